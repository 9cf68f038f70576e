/* A small strict JSON parser (RFC 8259) building a flat tree; used for the
 * safetensors header. Every input byte is untrusted. */
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

typedef struct jparser {
    const unsigned char *p, *end, *start;
    sd_json *doc;
    uint32_t cap;
    size_t str_used;
    int max_depth;
} jparser;

static simdiff_status jfail(const jparser *j, const char *what)
{
    return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "JSON: %s at byte %zu", what,
                   (size_t)(j->p - j->start));
}

static void skip_ws(jparser *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static simdiff_status new_node(jparser *j, uint8_t type, uint32_t *idx)
{
    sd_json *d = j->doc;
    if (d->n_nodes >= SD_JSON_MAX_NODES)
        return jfail(j, "too many values");
    if (d->n_nodes == j->cap) {
        uint32_t ncap = j->cap ? j->cap * 2 : 64;
        if (ncap > SD_JSON_MAX_NODES)
            ncap = SD_JSON_MAX_NODES;
        sd_json_node *nn = realloc(d->nodes, (size_t)ncap * sizeof *nn);
        if (!nn)
            return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "JSON: out of memory");
        d->nodes = nn;
        j->cap = ncap;
    }
    sd_json_node *n = &d->nodes[d->n_nodes];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->first = n->next = SD_JSON_NONE;
    *idx = d->n_nodes++;
    return SIMDIFF_OK;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(jparser *j, uint32_t *v)
{
    if (j->end - j->p < 4)
        return -1;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0)
            return -1;
        r = (r << 4) | (uint32_t)h;
    }
    j->p += 4;
    *v = r;
    return 0;
}

/* Parse a string at j->p (on the opening quote) into the arena. */
static simdiff_status parse_string(jparser *j, uint32_t *off, uint32_t *len)
{
    char *out = j->doc->strings + j->str_used;
    size_t o = 0;
    j->p++; /* opening quote */
    for (;;) {
        if (j->p >= j->end)
            return jfail(j, "unterminated string");
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return jfail(j, "control character in string");
        if (c != '\\') {
            int n = sd_utf8_len(j->p, j->end);
            if (!n)
                return jfail(j, "invalid UTF-8 in string");
            memcpy(out + o, j->p, (size_t)n);
            o += (size_t)n;
            j->p += n;
            continue;
        }
        if (j->end - j->p < 2)
            return jfail(j, "unterminated escape");
        unsigned char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': out[o++] = '"'; continue;
        case '\\': out[o++] = '\\'; continue;
        case '/': out[o++] = '/'; continue;
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'u': break;
        default: j->p -= 2; return jfail(j, "invalid escape");
        }
        uint32_t cp;
        if (read_hex4(j, &cp))
            return jfail(j, "invalid \\u escape");
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return jfail(j, "lone low surrogate in \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
                return jfail(j, "lone high surrogate in \\u escape");
            j->p += 2;
            if (read_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
                return jfail(j, "invalid surrogate pair in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0)
            return jfail(j, "\\u0000 in string");
        /* Encoding never takes more bytes than the escape did (6 or 12). */
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xc0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xe0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[o++] = (char)(0xf0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[o++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    out[o] = 0;
    *off = (uint32_t)j->str_used;
    *len = (uint32_t)o;
    j->str_used += o + 1;
    return SIMDIFF_OK;
}

static simdiff_status parse_number(jparser *j, uint32_t idx)
{
    const unsigned char *s = j->p;
    int neg = 0, is_int = 1;
    if (j->p < j->end && *j->p == '-') {
        neg = 1;
        j->p++;
    }
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return jfail(j, "invalid number");
    uint64_t mag = 0;
    int overflow = 0;
    if (*j->p == '0') {
        j->p++;
        if (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            return jfail(j, "leading zero in number");
    } else {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            unsigned dgt = (unsigned)(*j->p - '0');
            if (mag > (UINT64_MAX - dgt) / 10)
                overflow = 1;
            else
                mag = mag * 10 + dgt;
            j->p++;
        }
    }
    if (j->p < j->end && *j->p == '.') {
        is_int = 0;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return jfail(j, "invalid number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        is_int = 0;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return jfail(j, "invalid number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    sd_json_node *n = &j->doc->nodes[idx];
    if (!is_int) {
        n->type = SD_JSON_NUMBER;
        return SIMDIFF_OK;
    }
    if (overflow || (!neg && mag > (uint64_t)INT64_MAX) ||
        (neg && mag > (uint64_t)INT64_MAX + 1)) {
        j->p = s;
        return jfail(j, "integer out of range");
    }
    n->type = SD_JSON_INT;
    n->ival = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return SIMDIFF_OK;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static simdiff_status check_duplicates(jparser *j, uint32_t obj)
{
    sd_json *d = j->doc;
    uint32_t count = d->nodes[obj].count;
    if (count < 2)
        return SIMDIFF_OK;
    const char **keys = malloc((size_t)count * sizeof *keys);
    if (!keys)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "JSON: out of memory");
    uint32_t k = 0;
    for (uint32_t c = d->nodes[obj].first; c != SD_JSON_NONE; c = d->nodes[c].next)
        keys[k++] = d->strings + d->nodes[c].key;
    qsort(keys, count, sizeof *keys, key_cmp);
    simdiff_status s = SIMDIFF_OK;
    for (uint32_t i = 1; i < count && !s; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            s = sd_fail(NULL, SIMDIFF_ERR_FORMAT, "JSON: duplicate key \"%.200s\"",
                        keys[i]);
    free(keys);
    return s;
}

static simdiff_status parse_value(jparser *j, int depth, uint32_t *out);

static simdiff_status parse_container(jparser *j, int depth, uint32_t idx,
                                      int is_object)
{
    unsigned char close = is_object ? '}' : ']';
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return SIMDIFF_OK;
    }
    uint32_t last = SD_JSON_NONE;
    for (;;) {
        uint32_t key = 0, klen = 0, child;
        simdiff_status s;
        skip_ws(j);
        if (is_object) {
            if (j->p >= j->end || *j->p != '"')
                return jfail(j, "expected a string key");
            if ((s = parse_string(j, &key, &klen)))
                return s;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':')
                return jfail(j, "expected ':'");
            j->p++;
        }
        if ((s = parse_value(j, depth + 1, &child)))
            return s;
        sd_json_node *n = j->doc->nodes; /* may have moved */
        n[child].key = key;
        if (last == SD_JSON_NONE)
            n[idx].first = child;
        else
            n[last].next = child;
        last = child;
        if (n[idx].count == UINT32_MAX)
            return jfail(j, "too many values");
        n[idx].count++;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            break;
        }
        return jfail(j, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    return is_object ? check_duplicates(j, idx) : SIMDIFF_OK;
}

static int match_lit(jparser *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return 0;
    j->p += n;
    return 1;
}

static simdiff_status parse_value(jparser *j, int depth, uint32_t *out)
{
    skip_ws(j);
    if (j->p >= j->end)
        return jfail(j, "unexpected end");
    simdiff_status s;
    uint32_t idx;
    unsigned char c = *j->p;
    switch (c) {
    case '{':
    case '[':
        /* depth counts nested arrays/objects; the root container is 1 */
        if (depth > j->max_depth)
            return jfail(j, "nesting too deep");
        if ((s = new_node(j, c == '{' ? SD_JSON_OBJECT : SD_JSON_ARRAY, &idx)))
            return s;
        *out = idx;
        return parse_container(j, depth, idx, c == '{');
    case '"': {
        uint32_t off, len;
        if ((s = new_node(j, SD_JSON_STRING, &idx)))
            return s;
        if ((s = parse_string(j, &off, &len)))
            return s;
        j->doc->nodes[idx].str = off;
        j->doc->nodes[idx].len = len;
        *out = idx;
        return SIMDIFF_OK;
    }
    case 't':
    case 'f':
    case 'n': {
        uint8_t t = c == 't' ? SD_JSON_TRUE : c == 'f' ? SD_JSON_FALSE : SD_JSON_NULL;
        if (!match_lit(j, c == 't' ? "true" : c == 'f' ? "false" : "null"))
            return jfail(j, "invalid literal");
        if ((s = new_node(j, t, &idx)))
            return s;
        *out = idx;
        return SIMDIFF_OK;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if ((s = new_node(j, SD_JSON_INT, &idx)))
                return s;
            *out = idx;
            return parse_number(j, idx);
        }
        return jfail(j, "unexpected character");
    }
}

simdiff_status sd_json_parse(sd_json *doc, const char *text, size_t len,
                             int max_depth)
{
    if (!doc)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_json_parse: NULL doc");
    memset(doc, 0, sizeof *doc);
    if (!text && len)
        return sd_fail(NULL, SIMDIFF_ERR_INVALID_ARG, "sd_json_parse: NULL text");
    if (len >= UINT32_MAX)
        return sd_fail(NULL, SIMDIFF_ERR_FORMAT, "JSON: text of %zu bytes is too long",
                       len);
    /* Decoded strings (plus NUL) never exceed their quoted source. */
    doc->strings = malloc(len + 1);
    if (!doc->strings)
        return sd_fail(NULL, SIMDIFF_ERR_NOMEM, "JSON: out of memory");
    jparser j = {(const unsigned char *)text, (const unsigned char *)text + len,
                 (const unsigned char *)text, doc, 0, 0, max_depth};
    uint32_t root;
    simdiff_status s = parse_value(&j, 1, &root);
    if (!s) {
        skip_ws(&j);
        if (j.p != j.end)
            s = jfail(&j, "trailing characters after the JSON value");
    }
    if (s)
        sd_json_free(doc);
    return s;
}

void sd_json_free(sd_json *doc)
{
    if (!doc)
        return;
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

const sd_json_node *sd_json_member(const sd_json *d, const sd_json_node *obj,
                                   const char *key)
{
    if (!obj || obj->type != SD_JSON_OBJECT)
        return NULL;
    for (uint32_t c = obj->first; c != SD_JSON_NONE; c = d->nodes[c].next)
        if (strcmp(d->strings + d->nodes[c].key, key) == 0)
            return &d->nodes[c];
    return NULL;
}
