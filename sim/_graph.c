/* The social graph's look-ups (sim/social_graph.py, SocialGraph.edge_targets), compiled.
 *
 * An edge's target is a pure function of (sharer, edge slot): the SplitMix64 hash of
 * (key, sharer, slot) gives two uniforms (its high and low 32-bit words times 2**-32), the
 * first picks the edge's scope (the sharer's community, its region or the market: a row of
 * the scopes' table), the second a point in that scope's cumulative attention,
 * `cum_lo + u * (cum_hi - cum_lo)`; the point is located in the cumulative attention along
 * the layout (the number of stored values at most it, through the checkpoints' guide, then
 * the block's sums at most it, the float32 weights added in turn to the stored value as
 * np.cumsum added them), clipped to the scope, and a self-loop is mended (alone in its
 * scope: the salt-1 hash's high uniform picks a position in its region; still itself: the
 * next consumer of the scope). The same integers and float64 operations in the same order
 * as the Python paths (SocialGraph._edge_targets, _few_targets, _locate, _locate_one,
 * _unloop); compiled without floating-point contraction (setup.py).
 *
 * The located position is the one of every Python path: the whole table's guide
 * (_locate_whole, _locate_guided, read by the Python paths of graphs of at most 4M
 * consumers) and the block sums give the same count (the whole table's values are the
 * block sums: the same additions of one np.cumsum), and the position is clipped to the
 * scope either way. So this kernel always reads the block sums, and never makes the whole
 * table (8 bytes a consumer) nor its guide.
 *
 * A Graph holds buffers of the graph's columns (taken once, released with it); its methods
 * take a batch of edges as int64 arrays (of any stride) or as lists of integers. They
 * return False / None when they do not cover the batch, and the caller then runs the
 * Python path (which raises, or wraps, as it always did): a sharer outside [0, n), a row,
 * guide entry or position outside its table (never in a graph made by
 * sim.social_graph.build), a product too large for int64, sources and slots of different
 * lengths, sequences not lists, a list item that is not an int within int64. The array
 * method releases the GIL for large batches (it then reads only buffers), so the two
 * threads of a split look-up both run it.
 *
 * Two module functions make passes of the graph's build (sim.social_graph.build, seventeenth
 * pass): communities() draws a region's communities from numpy's doubles as _Choice.draw
 * finds them (the guide's bracket counted up) and writes them to the region's members in
 * order, counting each community's members; cumulative() adds the weights in turn in
 * float64 (np.cumsum's additions) and writes the stored values and the communities' and
 * regions' bounds. Both release the GIL and raise on arguments they do not cover.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_prefetch.h"

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

#define BLOCK 16           /* sim.social_graph._BLOCK */
#define RELEASE_FROM 1024  /* from this many edges the array method releases the GIL */

static const uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL;
static const uint64_t M1 = 0xBF58476D1CE4E5B9ULL;
static const uint64_t M2 = 0x94D049BB133111EBULL;
static const double SCALE = 1.0 / 4294967296.0;

/* ------------------------------------------------------------------ typed columns */

enum { K_I8, K_U8, K_I16, K_U16, K_I32, K_U32, K_I64, K_U64, K_F32, K_F64 };

typedef struct {
    const char *buf;
    Py_ssize_t len;
    Py_ssize_t itemsize;
    int kind;
} Col;

/* the address of a column's i-th item (to prefetch it) */
static inline const char *
item(const Col *c, Py_ssize_t i)
{
    return c->buf + i * c->itemsize;
}

static inline int64_t
rd_int(const Col *c, Py_ssize_t i)
{
    switch (c->kind) {
    case K_I8: return ((const int8_t *)c->buf)[i];
    case K_U8: return ((const uint8_t *)c->buf)[i];
    case K_I16: return ((const int16_t *)c->buf)[i];
    case K_U16: return ((const uint16_t *)c->buf)[i];
    case K_I32: return ((const int32_t *)c->buf)[i];
    case K_U32: return ((const uint32_t *)c->buf)[i];
    case K_I64: return ((const int64_t *)c->buf)[i];
    default: return (int64_t)((const uint64_t *)c->buf)[i]; /* as numpy's astype(int64) */
    }
}

static inline double
rd_float(const Col *c, Py_ssize_t i)
{
    if (c->kind == K_F32)
        return (double)((const float *)c->buf)[i]; /* exact, as numpy's cast */
    return ((const double *)c->buf)[i];
}

/* The kind of a buffer's items from its struct format and item size; -1 if not one of
 * the integer or float kinds (native byte order only). */
static int
kind_of(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    else if ((*f == '>' || *f == '!') && v->itemsize != 1)
        return -1; /* (this is built for a little-endian host: checked at import) */
    else if (*f == '>' || *f == '!')
        f++;
    if (f[0] == '\0' || f[1] != '\0')
        return -1;
    switch (f[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n':
        switch (v->itemsize) {
        case 1: return K_I8;
        case 2: return K_I16;
        case 4: return K_I32;
        case 8: return K_I64;
        }
        return -1;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N':
        switch (v->itemsize) {
        case 1: return K_U8;
        case 2: return K_U16;
        case 4: return K_U32;
        case 8: return K_U64;
        }
        return -1;
    case 'f': return v->itemsize == 4 ? K_F32 : -1;
    case 'd': return v->itemsize == 8 ? K_F64 : -1;
    }
    return -1;
}

/* ------------------------------------------------------------------ the Graph object */

enum { B_COMMUNITY, B_REGION, B_ORDER, B_WEIGHT, B_CHECKPOINTS, B_GUIDE, B_SCOPES, N_BUF };

typedef struct {
    PyObject_HEAD
    Py_buffer views[N_BUF];
    int held;  /* views taken so far */
    int ready; /* initialised in full (a failed __init__ leaves it 0: unusable) */
    Col community, region, order, weight, checkpoints, guide;
    const int64_t *scopes; /* (rows, 4): lo, hi, and cum_lo, cum_hi's float64 bits */
    Py_ssize_t rows;
    Py_ssize_t n, communities, regions;
    double guide_scale, wc, wcr;
    uint64_t key;
} Graph;

static void
Graph_dealloc(Graph *self)
{
    for (int i = 0; i < self->held; i++)
        PyBuffer_Release(&self->views[i]);
    self->held = 0;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
take_column(Graph *self, int slot, PyObject *obj, const char *name, int floats, Col *col)
{
    Py_buffer *v = &self->views[slot];
    if (PyObject_GetBuffer(obj, v, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    self->held = slot + 1;
    if (v->ndim != 1) {
        PyErr_Format(PyExc_ValueError, "Graph: %s must be one-dimensional", name);
        return -1;
    }
    int kind = kind_of(v);
    if (kind < 0 || (floats ? kind < K_F32 : kind >= K_F32)) {
        PyErr_Format(PyExc_TypeError, "Graph: %s has items of format '%s' (%zd bytes): %s",
                     name, v->format ? v->format : "B", v->itemsize,
                     floats ? "float32 or float64 wanted" : "integers wanted");
        return -1;
    }
    if ((uintptr_t)v->buf % (uintptr_t)v->itemsize != 0) { /* (read as C arrays of the type) */
        PyErr_Format(PyExc_ValueError, "Graph: %s is not aligned to its items", name);
        return -1;
    }
    col->buf = (const char *)v->buf;
    col->len = v->shape[0];
    col->itemsize = v->itemsize;
    col->kind = kind;
    return 0;
}

/* Graph(community, region, order, weight, checkpoints, guide, scopes, n, communities,
 *       regions, guide_scale, within_community, within_community_or_region, key) */
static int
Graph_init(Graph *self, PyObject *args, PyObject *kwds)
{
    PyObject *cols[N_BUF];
    Py_ssize_t n, communities, regions;
    double guide_scale, wc, wcr;
    PyObject *key;
    static const char *names[N_BUF] = {"community", "region", "order", "weight",
                                       "checkpoints", "guide", "scopes"};
    if (self->held) {
        PyErr_SetString(PyExc_TypeError, "Graph: already initialised");
        return -1;
    }
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Graph takes positional arguments only");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OOOOOOOnnndddO:Graph", &cols[0], &cols[1], &cols[2],
                          &cols[3], &cols[4], &cols[5], &cols[6], &n, &communities, &regions,
                          &guide_scale, &wc, &wcr, &key))
        return -1;
    Col *targets[6] = {&self->community, &self->region, &self->order, &self->weight,
                       &self->checkpoints, &self->guide};
    for (int i = 0; i < 6; i++) {
        int floats = i == B_WEIGHT || i == B_CHECKPOINTS;
        if (take_column(self, i, cols[i], names[i], floats, targets[i]) < 0)
            return -1;
    }
    Py_buffer *v = &self->views[B_SCOPES];
    if (PyObject_GetBuffer(cols[B_SCOPES], v, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    self->held = N_BUF;
    if (v->ndim != 2 || v->shape[1] != 4 || kind_of(v) != K_I64) {
        PyErr_SetString(PyExc_TypeError, "Graph: scopes must be an int64 array of shape (rows, 4)");
        return -1;
    }
    if ((uintptr_t)v->buf % sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "Graph: scopes is not aligned to its items");
        return -1;
    }
    self->scopes = (const int64_t *)v->buf;
    self->rows = v->shape[0];
    if (n < 0 || communities < 0 || regions < 0 || communities + regions + 1 != self->rows) {
        PyErr_SetString(PyExc_ValueError,
                        "Graph: scopes must have a row per community, per region and the market's");
        return -1;
    }
    if (self->community.len < n || self->region.len < n || self->order.len < n) {
        PyErr_SetString(PyExc_ValueError, "Graph: community, region and order need n entries");
        return -1;
    }
    if (self->guide.len < 2 || self->checkpoints.len < 1) {
        PyErr_SetString(PyExc_ValueError, "Graph: the guide needs two entries, the checkpoints one");
        return -1;
    }
    self->key = PyLong_AsUnsignedLongLong(key);
    if (self->key == (uint64_t)-1 && PyErr_Occurred())
        return -1;
    self->n = n;
    self->communities = communities;
    self->regions = regions;
    self->guide_scale = guide_scale;
    self->wc = wc;
    self->wcr = wcr;
    self->ready = 1;
    return 0;
}

/* ------------------------------------------------------------------ one edge */

static inline uint64_t
mix(uint64_t x)
{
    x ^= x >> 30;
    x *= M1;
    x ^= x >> 27;
    x *= M2;
    return x ^ (x >> 31);
}

/* The i-th int64 of a one-dimensional buffer (through its stride) */
static inline int64_t
at(const Py_buffer *v, Py_ssize_t i)
{
    int64_t x;
    memcpy(&x, (const char *)v->buf + i * (v->strides ? v->strides[0] : 8), sizeof x);
    return x;
}

/* One edge's look-up, in stages (each a function of the one before): both methods run
 * each stage over a chunk of edges before the next, so that the random reads of a stage
 * (a column at the sharer, the scope's row, the guide, the stored values, a block's
 * weights, the layout) are issued for many edges at once (prefetched) instead of one
 * dependent chain an edge. The same operations whatever the chunk. Each stage returns 0, or -1 when the edge is not covered (the
 * caller then runs the Python path); they read buffers only (safe without the GIL). */
typedef struct {
    int64_t s, k;      /* the sharer, the edge's slot */
    uint64_t base;     /* the hash's sum before mixing (salt 0) */
    double u;          /* the point's uniform (the hash's low word) */
    int64_t row;       /* the scope's row of the scopes' table (until stage 2: its kind) */
    int64_t lo, hi;    /* the scope's positions */
    double point;      /* the point in the cumulative attention */
    int64_t b;         /* the point's bucket of the guide */
    int64_t blk;       /* the last stored value at most the point */
    int64_t pos;       /* the position found */
} Edge;

enum { IN_COMMUNITY = -1, IN_REGION = -2, IN_MARKET = -3 };

/* 1: the hash (_uniforms / _hash: uint64 arithmetic, wrapping; salt 0) and the scope's
 * kind (the column to read at the sharer, prefetched) */
static inline int
stage_hash(const Graph *g, Edge *e)
{
    if (e->s < 0 || e->s >= g->n)
        return -1;
    e->base = (uint64_t)e->s * GOLDEN + g->key + (uint64_t)e->k * M1;
    uint64_t x = mix(e->base);
    double scope = (double)(uint32_t)(x >> 32) * SCALE;
    e->u = (double)(uint32_t)x * SCALE;
    if (scope < g->wc) {
        e->row = IN_COMMUNITY;
        __builtin_prefetch(item(&g->community, e->s));
    } else if (scope < g->wcr) {
        e->row = IN_REGION;
        __builtin_prefetch(item(&g->region, e->s));
    } else {
        e->row = IN_MARKET;
    }
    return 0;
}

/* 2: the scope's row (its community, its region after the communities, the market) */
static inline int
stage_row(const Graph *g, Edge *e)
{
    int64_t row;
    if (e->row == IN_COMMUNITY) {
        row = rd_int(&g->community, e->s);
        if (row < 0 || row >= g->communities)
            return -1;
    } else if (e->row == IN_REGION) {
        row = rd_int(&g->region, e->s);
        if (row < 0 || row >= g->regions)
            return -1;
        row += g->communities;
    } else {
        row = g->communities + g->regions;
    }
    e->row = row;
    __builtin_prefetch(g->scopes + 4 * row);
    return 0;
}

/* 3: the point (cum_lo + u * (cum_hi - cum_lo)) and its bucket of the guide (prefetched) */
static inline int
stage_point(const Graph *g, Edge *e)
{
    const int64_t *t = g->scopes + 4 * e->row;
    double cum_lo, cum_hi;
    e->lo = t[0];
    e->hi = t[1];
    memcpy(&cum_lo, t + 2, sizeof cum_lo);
    memcpy(&cum_hi, t + 3, sizeof cum_hi);
    e->point = cum_lo + e->u * (cum_hi - cum_lo);
    double bucket = e->point * g->guide_scale; /* exact: a power of two */
    if (!(bucket > -9.0e18 && bucket < 9.0e18))
        return -1; /* (NaN, or past int64: the Python path's) */
    int64_t b = (int64_t)bucket; /* numpy's astype(int64): truncation */
    int64_t last_bucket = g->guide.len - 2;
    if (b < 0)
        b = 0;
    if (b > last_bucket)
        b = last_bucket;
    e->b = b;
    __builtin_prefetch(item(&g->guide, b));
    return 0;
}

/* 4: _locate's stored values at most the point: the guide's count at the bucket's lower
 * bound, counted up through the bucket (at most to the count at its upper bound). A guide
 * made by build is non-decreasing, from 0 to len(checkpoints); another one (its counts
 * out of order or past the stored values) is not covered: 0 <= stored <= most <=
 * len(checkpoints), so the block found, stored - 1, is a stored value's index. */
static inline int
stage_stored(const Graph *g, Edge *e)
{
    int64_t stored = rd_int(&g->guide, e->b), most = rd_int(&g->guide, e->b + 1);
    /* 0 <= stored <= most <= len in two unsigned comparisons (a negative one is huge) */
    if ((uint64_t)stored > (uint64_t)most || (uint64_t)most > (uint64_t)g->checkpoints.len)
        return -1;
    while (stored < most && rd_float(&g->checkpoints, stored) <= e->point)
        stored++;
    int64_t blk = stored - 1;
    if (blk < 0 || (blk + 1) * BLOCK > g->weight.len)
        return -1;
    e->blk = blk;
    __builtin_prefetch(item(&g->checkpoints, blk));
    __builtin_prefetch(item(&g->weight, blk * BLOCK)); /* (the row may span two lines) */
    __builtin_prefetch(item(&g->weight, blk * BLOCK + BLOCK - 1));
    return 0;
}

/* 5: the block's sums at most the point (the stored value, then its weights added in turn,
 * as np.cumsum added them), the position, clipped to the scope (np.maximum, np.minimum) */
static inline int
stage_position(const Graph *g, Edge *e)
{
    const double point = e->point;
    double acc = rd_float(&g->checkpoints, e->blk);
    /* the stored value is the block's first sum: at most the point (1) for a guide made by
     * build, as stage 4 counted it; compared all the same, as the Python path's
     * _block_sums(stored) <= point compares all sixteen (the same count for any guide) */
    int64_t below = acc <= point;
    int64_t at = e->blk * BLOCK;
    if (g->weight.kind == K_F32) { /* (the graph's own type: one loop without a switch) */
        const float *w = (const float *)g->weight.buf + at;
#pragma GCC unroll 16
        for (int t = 0; t < BLOCK - 1; t++) {
            acc = acc + (double)w[t];
            below += acc <= point;
        }
    } else {
        for (int t = 0; t < BLOCK - 1; t++) {
            acc = acc + rd_float(&g->weight, at + t);
            below += acc <= point;
        }
    }
    int64_t pos = at + below - 1;
    if (pos < e->lo)
        pos = e->lo;
    if (pos > e->hi - 1)
        pos = e->hi - 1;
    if (pos < 0 || pos >= g->order.len)
        return -1;
    e->pos = pos;
    __builtin_prefetch(item(&g->order, pos));
    return 0;
}

/* 6: the target, a self-loop mended (_unloop): alone in its scope, a contact drawn in its
 * region (the salt-1 hash's high uniform); still itself, the next consumer of the scope */
static inline int
stage_target(const Graph *g, const Edge *e, int64_t *target)
{
    int64_t pos = e->pos, lo = e->lo, hi = e->hi;
    if (rd_int(&g->order, pos) == e->s) {
        int loop = 1;
        if (hi - lo == 1) {
            int64_t r = rd_int(&g->region, e->s);
            if (r < 0 || r >= g->regions)
                return -1;
            const int64_t *rt = g->scopes + 4 * (g->communities + r);
            lo = rt[0];
            hi = rt[1];
            uint64_t y = mix(e->base + M2); /* salt 1 */
            double v = (double)(uint32_t)(y >> 32) * SCALE * (double)(hi - lo);
            if (!(v > -9.0e18 && v < 9.0e18))
                return -1;
            pos = lo + (int64_t)v;
            if (pos < 0 || pos >= g->order.len)
                return -1;
            loop = rd_int(&g->order, pos) == e->s;
        }
        if (loop) {
            int64_t size = hi - lo;
            if (size < 1)
                size = 1;
            int64_t step = pos - lo + 1;
            if (step < 0)
                return -1; /* (C's remainder is not Python's: never reached, pos >= lo) */
            pos = lo + step % size;
            if (pos < 0 || pos >= g->order.len)
                return -1;
        }
    }
    *target = rd_int(&g->order, pos);
    return 0;
}

#define CHUNK 64 /* edges per chunk of the stages */

/* The targets of the m <= CHUNK edges e[i].s, e[i].k in out[i], each stage over the chunk
 * in turn: 0, or -1 when one of them is not covered. */
static int
chunk_run(const Graph *g, Edge *e, Py_ssize_t m, int64_t *out)
{
    Py_ssize_t i;
    for (i = 0; i < m; i++)
        if (stage_hash(g, &e[i]))
            return -1;
    for (i = 0; i < m; i++)
        if (stage_row(g, &e[i]))
            return -1;
    for (i = 0; i < m; i++)
        if (stage_point(g, &e[i]))
            return -1;
    for (i = 0; i < m; i++)
        if (stage_stored(g, &e[i]))
            return -1;
    for (i = 0; i < m; i++)
        if (stage_position(g, &e[i]))
            return -1;
    for (i = 0; i < m; i++)
        if (stage_target(g, &e[i], &out[i]))
            return -1;
    return 0;
}

/* The targets of edges [a, a + m) of the buffers (m <= CHUNK) in out[a:]: 0, or -1. */
static int
chunk_targets(const Graph *g, const Py_buffer *vs, const Py_buffer *vj, Py_ssize_t a,
              Py_ssize_t m, int64_t *out)
{
    Edge e[CHUNK];
    for (Py_ssize_t i = 0; i < m; i++) {
        e[i].s = at(vs, a + i);
        e[i].k = at(vj, a + i);
    }
    return chunk_run(g, e, m, out + a);
}

static int
batch_targets(const Graph *g, const Py_buffer *vs, const Py_buffer *vj, Py_ssize_t m,
              int64_t *out)
{
    for (Py_ssize_t a = 0; a < m; a += CHUNK)
        if (chunk_targets(g, vs, vj, a, m - a < CHUNK ? m - a : CHUNK, out))
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ methods */

/* An int64 buffer: the sources and slots with any stride (read through it, and of any
 * number of dimensions: the caller covers one-dimensional ones only, the others are the
 * Python path's, which raises as it did), the output one-dimensional, C-contiguous,
 * aligned and writable. */
static int
int64_buffer(PyObject *obj, Py_buffer *v, int writable)
{
    int flags = PyBUF_FORMAT | (writable ? PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE : PyBUF_STRIDES);
    if (PyObject_GetBuffer(obj, v, flags) < 0)
        return -1;
    if ((writable && v->ndim != 1) || kind_of(v) != K_I64) {
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_TypeError, "Graph.targets: one-dimensional int64 arrays wanted");
        return -1;
    }
    if (writable && (uintptr_t)v->buf % sizeof(int64_t) != 0) {
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_ValueError, "Graph.targets: out is not aligned to its items");
        return -1;
    }
    return 0;
}


PyDoc_STRVAR(targets_doc,
"targets(src, j, out) -> bool\n\n"
"The target of the j-th edge of each src (int64 arrays, any stride) written to out (int64,\n"
"C-contiguous, the same length): True; False (out undefined) when the batch is not covered\n"
"(src or j not one-dimensional among others), for the Python path.");

static PyObject *
Graph_targets(Graph *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "targets(src, j, out) takes three arguments");
        return NULL;
    }
    if (!self->ready) {
        PyErr_SetString(PyExc_ValueError, "Graph: not initialised");
        return NULL;
    }
    Py_buffer vs, vj, vo;
    if (int64_buffer(args[0], &vs, 0) < 0)
        return NULL;
    if (int64_buffer(args[1], &vj, 0) < 0) {
        PyBuffer_Release(&vs);
        return NULL;
    }
    if (int64_buffer(args[2], &vo, 1) < 0) {
        PyBuffer_Release(&vs);
        PyBuffer_Release(&vj);
        return NULL;
    }
    Py_ssize_t m = vo.shape[0];
    int covered = vs.ndim == 1 && vj.ndim == 1 && vs.shape[0] == m && vj.shape[0] == m;
    if (covered) {
        int64_t *out = (int64_t *)vo.buf;
        const Graph *g = self;
        int r;
        if (m >= RELEASE_FROM) {
            Py_BEGIN_ALLOW_THREADS
            r = batch_targets(g, &vs, &vj, m, out);
            Py_END_ALLOW_THREADS
        } else {
            r = batch_targets(g, &vs, &vj, m, out);
        }
        covered = r == 0;
    }
    PyBuffer_Release(&vs);
    PyBuffer_Release(&vj);
    PyBuffer_Release(&vo);
    return Py_NewRef(covered ? Py_True : Py_False);
}

PyDoc_STRVAR(targets_of_lists_doc,
"targets_of_lists(src, j, out=None) -> list | bool | None\n\n"
"The targets of edges given as lists of integers: a list of ints (out None), or written\n"
"to out (an int64 array of the same length) and True. None / False when not covered.");

static PyObject *
Graph_targets_of_lists(Graph *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "targets_of_lists(src, j, out=None)");
        return NULL;
    }
    if (!self->ready) {
        PyErr_SetString(PyExc_ValueError, "Graph: not initialised");
        return NULL;
    }
    PyObject *src = args[0], *j = args[1];
    PyObject *out_obj = nargs == 3 ? args[2] : Py_None;
    PyObject *not_covered = out_obj == Py_None ? Py_None : Py_False;
    if (!PyList_Check(src) || !PyList_Check(j))
        return Py_NewRef(not_covered);
    Py_ssize_t m = PyList_GET_SIZE(src);
    if (PyList_GET_SIZE(j) != m)
        return Py_NewRef(not_covered);
    Py_buffer vo;
    int64_t *out = NULL;
    PyObject *list = NULL;
    if (out_obj != Py_None) {
        if (int64_buffer(out_obj, &vo, 1) < 0)
            return NULL;
        if (vo.shape[0] != m) {
            PyBuffer_Release(&vo);
            return Py_NewRef(Py_False);
        }
        out = (int64_t *)vo.buf;
    } else {
        list = PyList_New(m);
        if (list == NULL)
            return NULL;
    }
    Edge e[CHUNK];
    int64_t found[CHUNK];
    for (Py_ssize_t a = 0; a < m; a += CHUNK) {
        Py_ssize_t c = m - a < CHUNK ? m - a : CHUNK;
        /* (a collection run by an allocation may change the lists: their sizes read again) */
        if (a + c > PyList_GET_SIZE(src) || a + c > PyList_GET_SIZE(j))
            goto uncovered;
        for (Py_ssize_t i = 0; i < c; i++) {
            PyObject *si = PyList_GET_ITEM(src, a + i), *ki = PyList_GET_ITEM(j, a + i);
            if (!PyLong_Check(si) || !PyLong_Check(ki)) /* (no Python code run to convert) */
                goto uncovered;
            e[i].s = PyLong_AsLongLong(si);
            if (e[i].s == -1 && PyErr_Occurred())
                goto uncovered;
            e[i].k = PyLong_AsLongLong(ki);
            if (e[i].k == -1 && PyErr_Occurred())
                goto uncovered;
        }
        if (chunk_run(self, e, c, out != NULL ? out + a : found) < 0)
            goto uncovered;
        if (out == NULL) {
            for (Py_ssize_t i = 0; i < c; i++) {
                PyObject *t = PyLong_FromLongLong(found[i]);
                if (t == NULL) {
                    Py_DECREF(list);
                    return NULL;
                }
                PyList_SET_ITEM(list, a + i, t);
            }
        }
    }
    if (out != NULL) {
        PyBuffer_Release(&vo);
        return Py_NewRef(Py_True);
    }
    return list;
uncovered:
    PyErr_Clear(); /* (an item not an integer within int64: the Python path's) */
    if (out != NULL)
        PyBuffer_Release(&vo);
    Py_XDECREF(list);
    return Py_NewRef(not_covered);
}

static PyMethodDef Graph_methods[] = {
    {"targets", (PyCFunction)(void (*)(void))Graph_targets, METH_FASTCALL, targets_doc},
    {"targets_of_lists", (PyCFunction)(void (*)(void))Graph_targets_of_lists, METH_FASTCALL,
     targets_of_lists_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Graph_doc,
"Graph(community, region, order, weight, checkpoints, guide, scopes, n, communities,\n"
"      regions, guide_scale, within_community, within_community_or_region, key)\n\n"
"The columns a social graph's look-ups read (buffers held until it is freed).");

static PyTypeObject GraphType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sim._graph.Graph",
    .tp_basicsize = sizeof(Graph),
    .tp_dealloc = (destructor)Graph_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Graph_doc,
    .tp_methods = Graph_methods,
    .tp_init = (initproc)Graph_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------ the build's passes */

/* a 1-D C-contiguous buffer (writable if asked) of items of `size` bytes whose format is one
 * of `formats` (one-letter codes), aligned to its items; 0, or -1 with TypeError or
 * ValueError set (nothing held) */
static int
build_column(PyObject *obj, Py_buffer *view, Py_ssize_t size, const char *formats,
             int writable, const char *fn, const char *what)
{
    const int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (view->ndim != 1 || view->itemsize != size || f[0] == '\0' || f[1] != '\0'
        || strchr(formats, f[0]) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: %s has the wrong type or shape", fn, what);
        PyBuffer_Release(view);
        return -1;
    }
    if ((uintptr_t)view->buf % (uintptr_t)size != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %s is not aligned to its items", fn, what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void
release_all(Py_buffer *views, int held)
{
    while (held > 0) {
        PyBuffer_Release(&views[--held]);
    }
}

#define COMMUNITY_BLOCK 256 /* members found, then drawn, together (communities) */

PyDoc_STRVAR(communities_doc,
"communities(region, r, start, u, cdf, guide, scale, offset, community, counts) -> int\n\n"
"One batch of sim.social_graph.build's community draws for region r: the consumers of\n"
"region r from position start on, in turn, each get the next draw of u (numpy's doubles)\n"
"as _Choice.draw finds it (bucket = int(u * scale), the guide's bracket [guide[bucket],\n"
"guide[bucket + 1]) counted up past the cdf values at most u), plus offset, written to\n"
"community, and counted in counts[community - offset] (int64, len(cdf) of them). Returns\n"
"the position after the last consumer written (where the next batch starts). region\n"
"uint8, u and cdf float64, guide and community int32, contiguous.\n"
"Raises ValueError (fewer consumers of region r left than draws, a draw outside the\n"
"guide, a guide entry outside cdf, an offset that overflows int32; the writes before it\n"
"kept), TypeError (wrong types or shapes).");

static PyObject *
k_communities(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *fn = "communities";
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "communities(region, r, start, u, cdf, guide, scale, "
                                         "offset, community, counts) takes 10 arguments");
        return NULL;
    }
    const long r = PyLong_AsLong(args[1]);
    if (r == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const Py_ssize_t start = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const double scale = PyFloat_AsDouble(args[6]);
    if (scale == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    const Py_ssize_t offset = PyNumber_AsSsize_t(args[7], PyExc_OverflowError);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer v[6];
    int held = 0;
    if (build_column(args[0], &v[held], 1, "B", 0, fn, "region") < 0 ||
        (++held, build_column(args[3], &v[held], 8, "d", 0, fn, "u") < 0) ||
        (++held, build_column(args[4], &v[held], 8, "d", 0, fn, "cdf") < 0) ||
        (++held, build_column(args[5], &v[held], 4, "i", 0, fn, "guide") < 0) ||
        (++held, build_column(args[8], &v[held], 4, "i", 1, fn, "community") < 0) ||
        (++held, build_column(args[9], &v[held], 8, "lq", 1, fn, "counts") < 0)) {
        release_all(v, held);
        return NULL;
    }
    held = 6;
    int64_t *counts = (int64_t *)v[5].buf;
    const uint8_t *region = (const uint8_t *)v[0].buf;
    const double *u = (const double *)v[1].buf;
    const double *cdf = (const double *)v[2].buf;
    const int32_t *guide = (const int32_t *)v[3].buf;
    int32_t *community = (int32_t *)v[4].buf;
    const Py_ssize_t n = v[0].shape[0], m = v[1].shape[0], values = v[2].shape[0];
    const Py_ssize_t bounds = v[3].shape[0];
    const char *why = NULL;
    if (v[4].shape[0] != n) {
        why = "community and region differ in length";
    }
    else if (v[5].shape[0] != v[2].shape[0]) {
        why = "counts and cdf differ in length";
    }
    else if (start < 0 || start > n) {
        why = "start is outside the region column";
    }
    else if (values < 1) {
        why = "cdf is empty";
    }
    else if (offset < 0 || offset > (Py_ssize_t)INT32_MAX - values) {
        why = "offset + len(cdf) overflows int32";
    }
    else if (!(scale > 0.0) || bounds < 2) {
        why = "scale must be positive and the guide hold two bounds";
    }
    if (why != NULL) {
        release_all(v, held);
        PyErr_Format(PyExc_ValueError, "%s: %s", fn, why);
        return NULL;
    }
    Py_ssize_t i = start;
    Py_ssize_t j = 0;
    const double top = (double)(bounds - 1); /* a bucket below it has an upper bound */
    const Py_ssize_t last = values - 1;
    /* the guide's and cdf's lines asked for ahead only in a large guide (_prefetch.h's rule) */
    const int far = (size_t)bounds * sizeof(int32_t) >= (size_t)PREFETCH_BYTES;
    Py_BEGIN_ALLOW_THREADS
    /* a block of the region's next members found without branches (each index written,
     * the count raised when it is a member), then their draws */
    Py_ssize_t at[COMMUNITY_BLOCK + 1];
    int64_t bucket[COMMUNITY_BLOCK], lo[COMMUNITY_BLOCK], hi[COMMUNITY_BLOCK];
    while (j < m && why == NULL) {
        const Py_ssize_t want = m - j < COMMUNITY_BLOCK ? m - j : COMMUNITY_BLOCK;
        Py_ssize_t found = 0;
        if (r < 0 || r > 255) {
            i = n;
        }
        while (found < want && i < n) {
            at[found] = i;
            found += region[i] == (uint8_t)r;
            i++;
        }
        /* in three passes over the block, so that the random reads of the guide (4 MiB at
         * 100M consumers) and of cdf are asked for together, not waited on one at a time:
         * the buckets (their guide entries fetched), the brackets (their first cdf value
         * fetched), then the counts */
        Py_ssize_t ok = found;
        for (Py_ssize_t f = 0; f < found; f++) {
            const double x = u[j + f] * scale;
            if (!(x >= 0.0 && x < top)) { /* (NaN too) */
                why = "a draw is outside the guide";
                ok = f;
                break;
            }
            bucket[f] = (int64_t)x; /* as astype(np.int64): x is not negative */
            if (far) {
                __builtin_prefetch(&guide[bucket[f]], 0, 3);
            }
        }
        for (Py_ssize_t f = 0; f < ok; f++) {
            lo[f] = guide[bucket[f]];
            hi[f] = guide[bucket[f] + 1];
            if (lo[f] < 0 || hi[f] > values) {
                why = "a guide entry is outside cdf";
                ok = f;
                break;
            }
            if (far) {
                PREFETCH_AT(cdf, lo[f] < last ? lo[f] : last, sizeof(double), 0);
            }
        }
        for (Py_ssize_t f = 0; f < ok; f++) {
            int64_t pos = lo[f];
            const double uj = u[j + f];
            /* _count_up: raised past the values at most u, while below the bracket's end
             * (the first step without a branch: most brackets hold one value or none) */
            pos += (pos < hi[f]) & (cdf[pos < last ? pos : last] <= uj);
            while (pos < hi[f] && cdf[pos < last ? pos : last] <= uj) {
                pos++;
            }
            if (pos > last) { /* (a guide whose last bracket ends past cdf's last value) */
                why = "a draw is past cdf's last value";
                ok = f;
                break;
            }
            community[at[f]] = (int32_t)(pos + offset);
            counts[pos]++;
        }
        j += ok;
        if (why != NULL) {
            i = at[ok]; /* (where this batch stopped) */
            break;
        }
        if (why == NULL && found < want) {
            why = "fewer consumers of the region left than draws";
        }
    }
    Py_END_ALLOW_THREADS
    release_all(v, held);
    if (why != NULL) {
        PyErr_Format(PyExc_ValueError, "%s: %s (draw %zd)", fn, why, j);
        return NULL;
    }
    return PyLong_FromSsize_t(i);
}

PyDoc_STRVAR(cumulative_doc,
"cumulative(weight, checkpoints, at0, out0, at1, out1) -> float\n\n"
"sim.social_graph._cumulative in one pass: the weights (float32) added in turn from 0 in\n"
"float64 (cumw[k] = the first k weights' sum, np.cumsum's additions), cumw[16 * t] into\n"
"checkpoints[t] (len(weight) // 16 + 1 of them) and cumw[at[i]] into out[i] for two sorted\n"
"int64 arrays of positions in [0, len(weight)]. Returns the total. Raises ValueError\n"
"(positions unsorted or outside, lengths), TypeError (wrong types or shapes).");

static PyObject *
k_cumulative(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *fn = "cumulative";
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "cumulative(weight, checkpoints, at0, out0, at1, out1) takes 6 arguments");
        return NULL;
    }
    Py_buffer v[6];
    int held = 0;
    if (build_column(args[0], &v[held], 4, "f", 0, fn, "weight") < 0 ||
        (++held, build_column(args[1], &v[held], 8, "d", 1, fn, "checkpoints") < 0) ||
        (++held, build_column(args[2], &v[held], 8, "lq", 0, fn, "at0") < 0) ||
        (++held, build_column(args[3], &v[held], 8, "d", 1, fn, "out0") < 0) ||
        (++held, build_column(args[4], &v[held], 8, "lq", 0, fn, "at1") < 0) ||
        (++held, build_column(args[5], &v[held], 8, "d", 1, fn, "out1") < 0)) {
        release_all(v, held);
        return NULL;
    }
    held = 6;
    const float *w = (const float *)v[0].buf;
    double *every = (double *)v[1].buf;
    const int64_t *at[2] = {(const int64_t *)v[2].buf, (const int64_t *)v[4].buf};
    double *out[2] = {(double *)v[3].buf, (double *)v[5].buf};
    const Py_ssize_t n = v[0].shape[0];
    const Py_ssize_t len[2] = {v[2].shape[0], v[4].shape[0]};
    const char *why = NULL;
    if (v[1].shape[0] != n / BLOCK + 1) {
        why = "checkpoints must hold len(weight) // 16 + 1 values";
    }
    else if (v[3].shape[0] != len[0] || v[5].shape[0] != len[1]) {
        why = "an output differs in length from its positions";
    }
    for (int t = 0; t < 2 && why == NULL; t++) {
        for (Py_ssize_t k = 0; k < len[t]; k++) {
            if (at[t][k] < 0 || at[t][k] > n || (k > 0 && at[t][k] < at[t][k - 1])) {
                why = "positions must be sorted and within [0, len(weight)]";
                break;
            }
        }
    }
    if (why != NULL) {
        release_all(v, held);
        PyErr_Format(PyExc_ValueError, "%s: %s", fn, why);
        return NULL;
    }
    double s = 0.0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t next[2] = {0, 0};
    Py_ssize_t k = 0; /* s = cumw[k] */
    for (;;) {
        if (k % BLOCK == 0) {
            every[k / BLOCK] = s;
        }
        for (int t = 0; t < 2; t++) {
            while (next[t] < len[t] && at[t][next[t]] == k) {
                out[t][next[t]++] = s;
            }
        }
        if (k == n) {
            break;
        }
        /* the weights added in turn up to the next position asked for (a stored value's
         * or a bound's), in a loop of additions alone */
        Py_ssize_t stop = (k / BLOCK + 1) * BLOCK;
        for (int t = 0; t < 2; t++) {
            if (next[t] < len[t] && at[t][next[t]] < stop) {
                stop = at[t][next[t]];
            }
        }
        if (stop > n) {
            stop = n;
        }
        if (stop <= k) { /* (positions changed since checked, the GIL released: no endless loop) */
            stop = k + 1;
        }
        for (; k < stop; k++) {
            s += (double)w[k];
        }
    }
    Py_END_ALLOW_THREADS
    release_all(v, held);
    return PyFloat_FromDouble(s);
}

static PyMethodDef module_methods[] = {
    {"communities", (PyCFunction)(void (*)(void))k_communities, METH_FASTCALL, communities_doc},
    {"cumulative", (PyCFunction)(void (*)(void))k_cumulative, METH_FASTCALL, cumulative_doc},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------ module */

PyDoc_STRVAR(module_doc,
"The social graph's look-ups, compiled (sim/social_graph.py's edge_targets: the same\n"
"targets, the same integer and float64 operations in the same order).");

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_graph", module_doc, -1, module_methods,
};

PyMODINIT_FUNC
PyInit__graph(void)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "sim._graph: built for little-endian hosts only");
        return NULL;
    }
    if (PyType_Ready(&GraphType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0 ||
        PyModule_AddObjectRef(m, "Graph", (PyObject *)&GraphType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
