/*
 * Private file formats of libsimdiff (lib/format/): atomic file writing
 * (afile.c), bounded and gzip-aware reading (read.c), CRC32 and zlib
 * (zlib.c), 16-bit floats (half.c), strict JSON (json.c, json_write.c),
 * safetensors (safetensors_read.c, safetensors_write.c), the sectioned
 * checkpoint container (container.c) and key=value metadata text (kv.c).
 * Used by the public areas above (io, model, train); not installed, not API.
 *
 * Every function reports failure the libsimdiff way: it returns a
 * simdiff_status and sets the calling thread's message with sd_fail()
 * (callers holding a public handle copy it with sd_fail_keep()). Nothing
 * read from a file is trusted before it is checked: sizes and offsets go
 * through sd_mul_size()/sd_add_size() and are compared with what was
 * actually read.
 */
#ifndef SIMDIFF_LIB_FORMAT_H
#define SIMDIFF_LIB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

/* ======================================================================
 * Atomic file writer.
 *
 * sd_afile_open() creates a temporary file next to `path` (same directory,
 * so the final rename cannot cross file systems); writes are buffered;
 * sd_afile_commit() flushes, fsyncs, renames over `path` and fsyncs the
 * directory. On any failure, and on sd_afile_abort(), the temporary file is
 * unlinked: `path` is either untouched or holds the complete new content.
 * commit and abort both free the writer. A write error is sticky: later
 * writes do nothing and commit reports the first error.
 *
 * What `path` may be (docs/reliability.md, "Output paths"):
 *  - nothing yet: a new file, mode 0666 & ~umask;
 *  - a regular file: replaced; the new file gets the old one's permission
 *    bits (and, where allowed, its owner and group);
 *  - a symbolic link: written through: the link's final target (resolved
 *    when the writer opens) is replaced as above and the link stays; a
 *    link whose target cannot be resolved is refused;
 *  - anything else (directory, device node, FIFO, socket): refused with
 *    SIMDIFF_ERR_IO before a byte is written, and checked again just
 *    before the rename.
 * After a commit, temporaries of the same target left by writers that were
 * killed ("<target>.tmp-" + 12 hex digits, regular files owned by this
 * user, unmodified for SD_AFILE_STALE_SECONDS) are removed.
 * ==================================================================== */
#define SD_AFILE_STALE_SECONDS 3600
typedef struct sd_afile sd_afile;

simdiff_status sd_afile_open(sd_afile **out, const char *path);
simdiff_status sd_afile_write(sd_afile *f, const void *data, size_t n);
simdiff_status sd_afile_commit(sd_afile *f);
void sd_afile_abort(sd_afile *f); /* NULL is a no-op */

/* Write a whole buffer to `path` atomically. */
simdiff_status sd_write_file_atomic(const char *path, const void *data,
                                    size_t n);

/* ======================================================================
 * Bounded readers.
 * ==================================================================== */

/* Read a whole regular file into a malloc'd buffer (*out, *size; one extra
 * NUL byte follows the data, not counted in *size). A file larger than
 * max_size gives SIMDIFF_ERR_FORMAT; open/read failures and non-regular
 * files give SIMDIFF_ERR_IO. On failure *out is NULL and *size 0. */
simdiff_status sd_read_file(const char *path, size_t max_size, void **out,
                            size_t *size);

/* Open a file into memory for a parser: read path (sd_read_file) and hand
 * the bytes to parse(out, buf, size), which owns buf from then on (frees it
 * on failure). A parse failure gets the prefix "'<path>'". */
typedef simdiff_status (*sd_parse_owned_fn)(void *out, void *buf, size_t size);
simdiff_status sd_read_file_parse(const char *path, size_t max_size, sd_parse_owned_fn parse,
                                  void *out);

/* A sequential reader of a file that is either raw or gzip-compressed
 * (detected from the magic bytes 1f 8b). Gzip is inflated on the fly and
 * must be one gzip member with nothing after it. */
typedef struct sd_src sd_src;

simdiff_status sd_src_open(sd_src **out, const char *path);
void sd_src_close(sd_src *s); /* NULL is a no-op */
int sd_src_is_gzip(const sd_src *s);
/* Read exactly n bytes; fewer available is SIMDIFF_ERR_FORMAT
 * ("truncated"). */
simdiff_status sd_src_read(sd_src *s, void *dst, size_t n);
/* Before allocating `remaining` bytes for the rest of the stream: checks
 * that a raw file holds exactly that many bytes after the current
 * position, and that a gzip file is large enough to inflate to it
 * (deflate expands at most ~1032:1). SIMDIFF_ERR_FORMAT otherwise. */
simdiff_status sd_src_check_remaining(sd_src *s, uint64_t remaining);
/* SIMDIFF_ERR_FORMAT unless the stream is exhausted (and, for gzip, the
 * member ended with a valid CRC/size trailer). */
simdiff_status sd_src_expect_end(sd_src *s);

/* ======================================================================
 * CRC32 and zlib.
 * ==================================================================== */

/* zlib's CRC32 (as in PNG and gzip), any length; start with crc = 0. */
uint32_t sd_crc32(uint32_t crc, const void *data, size_t n);

/* zlib-format deflate of src into a malloc'd buffer (*out, *out_n). */
simdiff_status sd_zcompress(const void *src, size_t n, int level, void **out,
                            size_t *out_n);
/* Inflate zlib-format src (all n bytes, one stream, nothing after it) into
 * dst, which must come out exactly raw_n bytes long; more or less output,
 * a corrupt stream or trailing input is SIMDIFF_ERR_FORMAT. Never writes
 * past dst + raw_n. */
simdiff_status sd_zuncompress(const void *src, size_t n, void *dst,
                              size_t raw_n);
/* 1 when raw_n bytes could plausibly come from stored_n bytes of deflate
 * (raw_n <= 1032 * stored_n + 64), else 0: a cheap guard against
 * decompression bombs before allocating raw_n bytes. */
int sd_zratio_ok(uint64_t stored_n, uint64_t raw_n);

/* ======================================================================
 * Little-endian loads/stores and float conversions.
 * ==================================================================== */
static inline uint16_t sd_ld_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t sd_ld_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t sd_ld_u64le(const uint8_t *p)
{
    return (uint64_t)sd_ld_u32le(p) | ((uint64_t)sd_ld_u32le(p + 4) << 32);
}
static inline uint32_t sd_ld_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline void sd_st_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void sd_st_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sd_st_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sd_st_u32be(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* IEEE half / bfloat16 <-> float. The float -> 16-bit conversions round to
 * nearest, ties to even (as numpy and PyTorch do); overflow gives +-inf;
 * NaN gives the canonical quiet NaN with the input's sign (0x7e00 / 0x7fc0).
 * The 16-bit -> float conversions are exact (NaN payloads are kept). */
uint16_t sd_f32_to_f16(float f);
float sd_f16_to_f32(uint16_t h);
uint16_t sd_f32_to_bf16(float f);
float sd_bf16_to_f32(uint16_t h);

/* ======================================================================
 * Strict JSON (RFC 8259) into a small tree.
 *
 * Rejects: anything but whitespace after the root value, arrays/objects
 * nested deeper than max_depth (the root container is depth 1), duplicate keys in an object, raw control characters and
 * invalid UTF-8 in strings, bad escapes, lone surrogates, "\u0000" (strings
 * must be C strings), leading zeros, integers outside int64, and more than
 * SD_JSON_MAX_NODES values. Numbers with a fraction or exponent parse as
 * SD_JSON_NUMBER (value not kept: nothing here needs one).
 * ==================================================================== */
#define SD_JSON_MAX_NODES (1u << 22)
#define SD_JSON_NONE UINT32_MAX

typedef enum sd_json_type {
    SD_JSON_NULL,
    SD_JSON_FALSE,
    SD_JSON_TRUE,
    SD_JSON_INT,
    SD_JSON_NUMBER,
    SD_JSON_STRING,
    SD_JSON_ARRAY,
    SD_JSON_OBJECT,
} sd_json_type;

typedef struct sd_json_node {
    uint8_t type;   /* sd_json_type */
    uint32_t count; /* array/object: number of children */
    uint32_t first; /* array/object: first child, or SD_JSON_NONE */
    uint32_t next;  /* next sibling, or SD_JSON_NONE */
    uint32_t key;   /* object member: offset of its key in doc->strings */
    uint32_t str;   /* string: offset of its value in doc->strings */
    uint32_t len;   /* string: length in bytes (no NUL inside) */
    int64_t ival;   /* SD_JSON_INT */
} sd_json_node;

typedef struct sd_json {
    sd_json_node *nodes; /* nodes[0] is the root */
    uint32_t n_nodes;
    char *strings; /* NUL-terminated decoded keys and strings */
} sd_json;

/* UTF-8 validation: sd_utf8_len and sd_utf8_valid (core/internal.h). */

simdiff_status sd_json_parse(sd_json *doc, const char *text, size_t len,
                             int max_depth);
void sd_json_free(sd_json *doc);
static inline const char *sd_json_str(const sd_json *d, const sd_json_node *n)
{
    return d->strings + n->str;
}
static inline const char *sd_json_key(const sd_json *d, const sd_json_node *n)
{
    return d->strings + n->key;
}
/* Member `key` of object `obj`, or NULL. */
const sd_json_node *sd_json_member(const sd_json *d, const sd_json_node *obj,
                                   const char *key);

/* ======================================================================
 * JSON output: a growable byte buffer and compact JSON pieces.
 *
 * Appends never fail: an allocation failure sets `oom`, later appends do
 * nothing, and the caller checks `oom` once at the end. Start from
 * {0}; sd_jbuf_free releases the bytes.
 * ==================================================================== */
typedef struct sd_jbuf {
    char *p;
    size_t n, cap;
    int oom;
} sd_jbuf;

void sd_jbuf_put(sd_jbuf *b, const char *s, size_t n);
void sd_jbuf_str(sd_jbuf *b, const char *s); /* s verbatim */
/* s as a JSON string the way serde_json writes it: UTF-8 kept, '"' and '\\'
 * escaped, control characters as \b \t \n \f \r or \u00XX. */
void sd_jbuf_string(sd_jbuf *b, const char *s);
void sd_jbuf_free(sd_jbuf *b);

/* ======================================================================
 * safetensors (https://github.com/huggingface/safetensors).
 *
 * File: u64 little-endian N, N bytes of JSON header, then the data buffer.
 * The header maps tensor names to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the buffer) plus an optional
 * "__metadata__" object of string -> string. The reader checks: N <= 100 MB
 * and N <= file size - 8; strict JSON (depth <= 4 used, 8 allowed); each
 * tensor has exactly those three keys, a known dtype, at most
 * SD_ST_MAX_DIMS non-negative dims whose product times the dtype size fits
 * size_t and equals end - begin; the tensors, sorted by offset, tile the
 * buffer exactly (no gap, no overlap, nothing after).
 * ==================================================================== */
#define SD_ST_MAX_DIMS 16
#define SD_ST_MAX_HEADER 100000000u

typedef enum sd_dtype {
    SD_DT_BOOL,
    SD_DT_U8,
    SD_DT_I8,
    SD_DT_F8_E5M2,
    SD_DT_F8_E4M3,
    SD_DT_I16,
    SD_DT_U16,
    SD_DT_F16,
    SD_DT_BF16,
    SD_DT_I32,
    SD_DT_U32,
    SD_DT_F32,
    SD_DT_F64,
    SD_DT_I64,
    SD_DT_U64,
    SD_DT_COUNT_
} sd_dtype;

const char *sd_dtype_name(sd_dtype t); /* "F32", ...; "?" if unknown */
size_t sd_dtype_size(sd_dtype t);      /* bytes per element; 0 if unknown */

typedef struct sd_st_tensor {
    const char *name; /* NUL-terminated UTF-8 */
    sd_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[SD_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const uint8_t *data; /* nbytes bytes, little-endian, maybe unaligned */
} sd_st_tensor;

typedef struct sd_st_file sd_st_file;

/* Open and validate a file (read whole into memory; max_size caps it). */
simdiff_status sd_st_open(sd_st_file **out, const char *path,
                          size_t max_size);
/* Validate a buffer in memory. The buffer is borrowed: it must stay
 * unchanged and alive until sd_st_close(). */
simdiff_status sd_st_open_mem(sd_st_file **out, const void *data,
                              size_t size);
void sd_st_close(sd_st_file *f); /* NULL is a no-op */

size_t sd_st_count(const sd_st_file *f);
/* Tensors in ascending name order (strcmp). */
const sd_st_tensor *sd_st_at(const sd_st_file *f, size_t i);
/* The tensor called name, or NULL (binary search). */
const sd_st_tensor *sd_st_find(const sd_st_file *f, const char *name);
/* Copy tensor `name` to dst as floats, converting F16/BF16/F64 (F32 is a
 * copy). The tensor must exist (else SIMDIFF_ERR_FORMAT, "no tensor") and
 * have exactly shape[0..ndim) (else SIMDIFF_ERR_FORMAT naming both
 * shapes); other dtypes give SIMDIFF_ERR_UNSUPPORTED. */
simdiff_status sd_st_read_f32(const sd_st_file *f, const char *name,
                              float *dst, int ndim, const int64_t *shape);
/* The checks of sd_st_read_f32 without the copy: tensor `name` exists
 * with exactly that shape (before a caller allocates for it). */
simdiff_status sd_st_check_shape(const sd_st_file *f, const char *name, int ndim,
                                 const int64_t *shape);
/* Metadata: value for key, or NULL; and enumeration in key order. */
const char *sd_st_metadata(const sd_st_file *f, const char *key);
size_t sd_st_metadata_count(const sd_st_file *f);
void sd_st_metadata_at(const sd_st_file *f, size_t i, const char **key,
                       const char **value);

/* Writer: collect tensors given as floats and store each as F32, F16 or
 * BF16. Tensor data is borrowed (not copied) until write/serialize
 * returns; names and metadata are copied. Layout follows the reference
 * serializer: tensors ordered by dtype alignment (F32, then BF16, then
 * F16) and then by name, the header lists "__metadata__" first (its keys
 * sorted) and the tensors in that order, compact JSON, padded with spaces
 * to a multiple of 8 bytes. */
typedef struct sd_st_writer sd_st_writer;

simdiff_status sd_st_writer_create(sd_st_writer **out);
void sd_st_writer_destroy(sd_st_writer *w); /* NULL is a no-op */
/* dtype: SD_DT_F32, SD_DT_F16 or SD_DT_BF16; names must be unique,
 * non-empty, valid UTF-8 and not "__metadata__". */
simdiff_status sd_st_writer_add(sd_st_writer *w, const char *name,
                                sd_dtype dtype, int ndim,
                                const int64_t *shape, const float *data);
/* Set (or replace) a metadata entry; key and value: valid UTF-8. */
simdiff_status sd_st_writer_set_metadata(sd_st_writer *w, const char *key,
                                         const char *value);
/* Write atomically to path. */
simdiff_status sd_st_writer_write(sd_st_writer *w, const char *path);
/* Serialize into a malloc'd buffer (*out, *size). */
simdiff_status sd_st_writer_serialize(sd_st_writer *w, void **out,
                                      size_t *size);

/* ======================================================================
 * Sectioned checkpoint container ("SIMDIFFC").
 *
 *   offset 0   8 bytes  magic "SIMDIFFC"
 *          8   u32      version (1)
 *         12   u32      section count S (<= SD_CK_MAX_SECTIONS)
 *         16   S x 40   entries: 16-byte name (NUL-padded ASCII), u32 flags
 *                       (bit 0: zlib-compressed), u64 stored size,
 *                       u64 raw size, u32 CRC32 of the raw bytes
 *   16 + 40 S  u32      CRC32 of bytes [0, 16 + 40 S)
 *              ...      payloads, stored bytes of each section in order
 * All integers little-endian. The reader requires: the magic, version 1,
 * the table CRC, unique non-empty names of printable ASCII with NUL
 * padding, no unknown flag bits, raw size == stored size for raw
 * sections, raw <= SD_CK_MAX_RAW and a plausible deflate ratio, payloads
 * ending exactly at the end of the file, every compressed payload
 * inflating to exactly its raw size, and every CRC matching. All sections
 * are checked when the file is opened.
 * ==================================================================== */
#define SD_CK_NAME_MAX 16
#define SD_CK_MAX_SECTIONS 4096
#define SD_CK_MAX_RAW ((uint64_t)1 << 36)
#define SD_CK_FLAG_ZLIB 1u

typedef struct sd_ck_writer sd_ck_writer;

simdiff_status sd_ck_writer_create(sd_ck_writer **out);
void sd_ck_writer_destroy(sd_ck_writer *w); /* NULL is a no-op */
/* Add a section (data copied, compressed now when compress != 0). The
 * name: 1..16 printable ASCII characters, unique. */
simdiff_status sd_ck_writer_add(sd_ck_writer *w, const char *name,
                                const void *data, size_t size, int compress);
/* Write all sections atomically to path. The writer stays usable. */
simdiff_status sd_ck_writer_commit(sd_ck_writer *w, const char *path);

typedef struct sd_ck_reader sd_ck_reader;

/* Open and fully validate; files larger than max_size are refused. */
simdiff_status sd_ck_open(sd_ck_reader **out, const char *path,
                          size_t max_size);
/* The same from a buffer (copied). */
simdiff_status sd_ck_open_mem(sd_ck_reader **out, const void *data,
                              size_t size);
void sd_ck_close(sd_ck_reader *r); /* NULL is a no-op */
size_t sd_ck_count(const sd_ck_reader *r);
const char *sd_ck_name(const sd_ck_reader *r, size_t i);
int sd_ck_has(const sd_ck_reader *r, const char *name);
/* The raw bytes of section `name` (valid until sd_ck_close); a missing
 * section is SIMDIFF_ERR_FORMAT. */
simdiff_status sd_ck_find(const sd_ck_reader *r, const char *name,
                          const void **data, size_t *size);
/* A failure while reading checkpoint `path`: SIMDIFF_ERR_NOMEM and
 * SIMDIFF_ERR_IO stay, anything else becomes SIMDIFF_ERR_FORMAT; the
 * message gets the prefix "<path>: ". Returns the status. */
simdiff_status sd_ck_fail_read(simdiff_status st, const char *path);
/* Section `name` as a malloc'd NUL-terminated string (*out; free it): at
 * most max_len bytes and no NUL inside, else SIMDIFF_ERR_FORMAT. */
simdiff_status sd_ck_find_text(const sd_ck_reader *r, const char *name, size_t max_len,
                               char **out);
/* Section `name` as exactly count little-endian float32 values into dst;
 * another size is SIMDIFF_ERR_FORMAT. */
simdiff_status sd_ck_find_f32(const sd_ck_reader *r, const char *name, float *dst,
                              size_t count);

/* ======================================================================
 * key=value text: "k1=v1;k2=v2;..." (metadata of model files and
 * checkpoints), described by a table of fields of one record (a struct).
 *
 * Parsing is strict: every segment is key=value with a key of the table,
 * each key at most once, numbers in plain C syntax without leading space
 * or '+' and with nothing after them; integers fit their type, floats and
 * doubles are finite; an int list ("4,8,16") has 1..max values. One
 * trailing ';' is allowed. With all_required every key not marked optional
 * must be present; otherwise a missing key leaves the record's field as it
 * was. Failures
 * are SIMDIFF_ERR_FORMAT with a message starting with `what`.
 * Formatting writes every field in table order: ints as %d, floats as
 * %.9g and doubles as %.17g (both read back exactly), an int list of the
 * length stored at count_off.
 * ==================================================================== */
typedef enum sd_kv_type {
    SD_KV_INT,    /* int (also an enum stored as int)  */
    SD_KV_INTS,   /* int[max], count_off: the length   */
    SD_KV_I64,    /* int64_t                           */
    SD_KV_U64,    /* uint64_t                          */
    SD_KV_FLOAT,  /* float                             */
    SD_KV_DOUBLE, /* double                            */
} sd_kv_type;

typedef struct sd_kv_field {
    const char *key;
    sd_kv_type type;
    size_t off;       /* offset of the field in the record  */
    int max;          /* SD_KV_INTS: capacity of the array  */
    size_t count_off; /* SD_KV_INTS: offset of the int count */
    int optional;     /* 1: may be missing even with all_required (a key
                         added later; the record keeps its value)         */
} sd_kv_field;

/* At most 64 fields. */
simdiff_status sd_kv_parse(const char *what, const sd_kv_field *fields, size_t n,
                           int all_required, const char *text, void *rec);
/* SIMDIFF_ERR_INTERNAL if the text does not fit in cap bytes. */
simdiff_status sd_kv_format(const char *what, const sd_kv_field *fields, size_t n,
                            const void *rec, char *buf, size_t cap);

#endif
