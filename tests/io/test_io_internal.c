/*
 * Internal pieces of lib/io: the NPY header parser and writer (the format
 * from numpy's documentation; hand-made bad headers must be refused).
 */
#include <stdint.h>
#include <string.h>

#include "io/io_internal.h"
#include "sdtest.h"

/* ---- NPY headers ---------------------------------------------------------------- */

static simdiff_status npy_try(const char *dict, int major, sd_npy_header *h)
{
    uint8_t b[512];
    size_t dn = strlen(dict), pre = major == 1 ? 10 : 12;
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    if (major == 1)
        sd_st_u16le(b + 8, (uint16_t)dn);
    else
        sd_st_u32le(b + 8, (uint32_t)dn);
    memcpy(b + pre, dict, dn);
    return sd_npy_parse_header(b, pre + dn, h);
}

START_TEST(npy_header_parser)
{
    sd_npy_header h;
    ck_assert_int_eq(npy_try("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }    \n", 1, &h), SIMDIFF_OK);
    ck_assert_str_eq(h.descr, "<f4");
    ck_assert_int_eq(h.ndim, 2);
    ck_assert_int_eq(h.shape[1], 3);
    ck_assert_int_eq(h.data_offset, 10 + 64);
    ck_assert_int_eq(npy_try("{\"shape\":(7,),\"fortran_order\":True,\"descr\":\"|u1\"}\n", 2, &h), SIMDIFF_OK);
    ck_assert_int_eq(h.ndim, 1);
    ck_assert_int_eq(h.shape[0], 7);
    ck_assert_int_eq(h.fortran_order, 1);
    ck_assert_int_eq(npy_try("{'descr':'<f4','fortran_order':False,'shape':()}\n", 3, &h), SIMDIFF_OK);
    ck_assert_int_eq(h.ndim, 0);
    static const char *bad[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",     /* no \n */
        "{'descr': '<f4', 'fortran_order': False}\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (03,), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }\n",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (3,), }\n",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}\n",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,),, }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} x\n",
        "{'descr': 'a\\'b', 'fortran_order': False, 'shape': (3,)}\n",
        "['descr', '<f4']\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)\n",
        "\n",
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        simdiff_status s = npy_try(bad[i], 1, &h);
        ck_assert_msg(s == SIMDIFF_ERR_FORMAT, "case %zu accepted: %s", i, bad[i]);
    }
    /* magic, version, length */
    uint8_t b[80];
    memcpy(b, "\x93NUMPZ\x01\x00\x10\x00", 10);
    ck_assert_int_eq(sd_npy_parse_header(b, 80, &h), SIMDIFF_ERR_FORMAT);
    memcpy(b, "\x93NUMPY\x04\x00\x10\x00", 10);
    ck_assert_int_eq(sd_npy_parse_header(b, 80, &h), SIMDIFF_ERR_FORMAT);
    memcpy(b, "\x93NUMPY\x01\x01\x10\x00", 10);
    ck_assert_int_eq(sd_npy_parse_header(b, 80, &h), SIMDIFF_ERR_FORMAT);
    memcpy(b, "\x93NUMPY\x01\x00\xff\xff", 10);
    ck_assert_int_eq(sd_npy_parse_header(b, 80, &h), SIMDIFF_ERR_FORMAT);
    memcpy(b, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
    ck_assert_int_eq(sd_npy_parse_header(b, 80, &h), SIMDIFF_ERR_FORMAT);
    ck_assert_int_eq(sd_npy_parse_header(b, 5, &h), SIMDIFF_ERR_FORMAT);
    /* the writer's header parses back, and has numpy's padding */
    uint8_t hb[256];
    int64_t shape[3] = {60000, 28, 28};
    size_t hn = sd_npy_make_header(hb, sizeof hb, "|u1", 3, shape);
    ck_assert_uint_eq(hn % 64, 0);
    ck_assert_int_eq(sd_npy_parse_header(hb, hn, &h), SIMDIFF_OK);
    ck_assert_uint_eq(h.data_offset, hn);
    ck_assert_int_eq(h.ndim, 3);
    ck_assert_int_eq(h.shape[0], 60000);
    ck_assert_uint_eq(sd_npy_make_header(hb, 10, "|u1", 3, shape), 0);
}
END_TEST

static Suite *io_internal_suite(void)
{
    Suite *s = suite_create("io-internal");
    TCase *tc = tcase_create("npy");
    tcase_add_test(tc, npy_header_parser);
    suite_add_tcase(s, tc);
    return s;
}

SDTEST_MAIN(io_internal_suite)
