/* The wish decision of an hour of a world of one product, in C: the same numbers as
 * sim/agents/wishes.py WishDecisions._one_product_chances (its common branch: the books
 * handed to the feedback at once, the price factor skipped, the novelty in the first
 * factors), bit for bit, and the same draws of the same generator in the same order.
 *
 * one_product_hour(order, flat, ends, firsts, content, channels, kols, ec, state, boost,
 *                  fatigue, rating, warn, unsigned, capsule, max_seen,
 *                  out_consumers, out_channels, out_kols)
 *   -> (wishes, views_sum, lost_sum)
 *
 * order, flat: the stable order that sorts the hour's consumers and the consumers in that
 *   order (intp / int64, n each; _ascending);
 * ends, firsts, content, channels, kols: per batch (sequences of Python numbers, the
 *   exposures' batches in order): where each batch ends among the exposures (cumulative
 *   lengths, the last n), its exposures' first factors (channel's conversion, appeal, the
 *   KOL's trust, the novelty: already multiplied in Python), whether its exposures are
 *   content views, its channel and its KOL;
 * ec (uint16, written), state (int8): the population's flat exposure counts and states;
 * boost, fatigue (float64; fatigue may be None): the exposure count's factor tables;
 * rating: the product's rating multiplier; warn: 1 - warning_effect; unsigned: whether
 *   every first factor and the repeat boost's table is known to be at least 0 (for the
 *   lossless rule); capsule: the generator's "BitGenerator" capsule; max_seen: where
 *   counts saturate;
 * out_*: int64 / int8 / int32 arrays of n, filled with the wishes' consumers, channels and
 *   KOLs in ascending exposure order (the first `wishes` entries).
 * views_sum: np.add.accumulate of the chances' probabilities of content views (every
 *   exposure in sorted order, those not a chance adding 0.0), plus 0.0 in front (as
 *   np.bincount from 0.0); lost_sum: the same running sum of fmax(p_plain - p, 0) (0.0
 *   when the hour is lossless: nothing to book).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

typedef struct bitgen {
    void *state;
    uint64_t (*next_uint64)(void *st);
    uint32_t (*next_uint32)(void *st);
    double (*next_double)(void *st);
    uint64_t (*next_raw)(void *st);
} bitgen_t;

enum { NONE = 0, BOUGHT = 1, WAITING = 2, WARNED = 3 };

/* numpy's np.minimum(x, 1.0) of float64: NaN propagates (x < 1.0 or NaN: x) */
static inline double np_min1(double x) { return (x < 1.0 || x != x) ? x : 1.0; }

/* A C-contiguous 1-D buffer of the given kind ('i' signed, 'u' unsigned, 'f' float) and
 * item size; `writable` asks for a writable one. On failure: an exception set, -1. */
static int get_array(PyObject *obj, Py_buffer *view, char kind, Py_ssize_t itemsize,
                     int writable, const char *name)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s: a C-contiguous %sarray is wanted", name,
                         writable ? "writable " : "");
        }
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') f++;
    int ok = view->ndim == 1 && view->itemsize == itemsize && f[0] != 0 && f[1] == 0;
    if (ok) {
        char c = f[0];
        if (kind == 'f')
            ok = c == 'd';
        else if (kind == 'u')
            ok = (c == 'B' || c == 'H' || c == 'I' || c == 'L' || c == 'Q');
        else
            ok = (c == 'b' || c == 'h' || c == 'i' || c == 'l' || c == 'q' || c == 'n');
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: a 1-D array of %s%zd-byte items is wanted", name,
                     kind == 'f' ? "float" : (kind == 'u' ? "unsigned " : "signed "), itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

typedef struct {
    Py_ssize_t pos;  /* the wish's exposure position */
    int64_t consumer;
} wish_t;

static int by_pos(const void *a, const void *b)
{
    Py_ssize_t x = ((const wish_t *)a)->pos, y = ((const wish_t *)b)->pos;
    return (x > y) - (x < y);
}

/* the per-batch sequences: as C arrays of nb entries (ends, channels, kols as int64) */
static int read_batches(PyObject *ends_o, PyObject *firsts_o, PyObject *content_o,
                        PyObject *channels_o, PyObject *kols_o, Py_ssize_t nb, int64_t *ends,
                        double *firsts, char *content, int64_t *channels, int64_t *kols)
{
    PyObject *seqs[5] = {ends_o, firsts_o, content_o, channels_o, kols_o};
    PyObject *fast[5] = {0};
    int rc = -1;
    for (int s = 0; s < 5; s++) {
        fast[s] = PySequence_Fast(seqs[s], "the batches' numbers: a sequence is wanted");
        if (!fast[s]) goto done;
        if (PySequence_Fast_GET_SIZE(fast[s]) != nb) {
            PyErr_SetString(PyExc_ValueError, "the batches' sequences differ in length");
            goto done;
        }
    }
    for (Py_ssize_t b = 0; b < nb; b++) {
        ends[b] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast[0], b));
        firsts[b] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast[1], b));
        int c = PyObject_IsTrue(PySequence_Fast_GET_ITEM(fast[2], b));
        channels[b] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast[3], b));
        kols[b] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast[4], b));
        if (PyErr_Occurred() || c < 0) goto done;
        content[b] = (char)c;
        if (ends[b] < (b ? ends[b - 1] : 0)) {
            PyErr_SetString(PyExc_ValueError, "ends: not ascending");
            goto done;
        }
        if (channels[b] < -128 || channels[b] > 127 || kols[b] < INT32_MIN || kols[b] > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a batch's channel or KOL out of its dtype");
            goto done;
        }
    }
    rc = 0;
done:
    for (int s = 0; s < 5; s++) Py_XDECREF(fast[s]);
    return rc;
}

static PyObject *one_product_hour(PyObject *self, PyObject *args)
{
    PyObject *order_o, *flat_o, *ends_o, *firsts_o, *content_o, *channels_o, *kols_o;
    PyObject *ec_o, *state_o, *boost_o, *fatigue_o, *capsule, *oc_o, *och_o, *ok_o;
    double rating, warn;
    int unsigned_ok;
    long max_seen;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOddpOlOOO:one_product_hour", &order_o, &flat_o,
                          &ends_o, &firsts_o, &content_o, &channels_o, &kols_o, &ec_o,
                          &state_o, &boost_o, &fatigue_o, &rating, &warn, &unsigned_ok,
                          &capsule, &max_seen, &oc_o, &och_o, &ok_o))
        return NULL;
    if (max_seen < 0 || max_seen > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "max_seen: 0 .. 65535");
        return NULL;
    }
    bitgen_t *bg = (bitgen_t *)PyCapsule_GetPointer(capsule, "BitGenerator");
    if (!bg) return NULL;

    Py_buffer vorder, vflat, vec, vstate, vboost, vfat, voc, voch, vok;
    int have[9] = {0};
    PyObject *result = NULL;
    char *mem = NULL;
    wish_t *wish = NULL;
    if (get_array(order_o, &vorder, 'i', 8, 0, "order") < 0) goto fail;
    have[0] = 1;
    if (get_array(flat_o, &vflat, 'i', 8, 0, "flat") < 0) goto fail;
    have[1] = 1;
    if (get_array(ec_o, &vec, 'u', 2, 1, "ec") < 0) goto fail;
    have[2] = 1;
    if (get_array(state_o, &vstate, 'i', 1, 0, "state") < 0) goto fail;
    have[3] = 1;
    if (get_array(boost_o, &vboost, 'f', 8, 0, "boost") < 0) goto fail;
    have[4] = 1;
    if (fatigue_o != Py_None) {
        if (get_array(fatigue_o, &vfat, 'f', 8, 0, "fatigue") < 0) goto fail;
        have[5] = 1;
    }
    if (get_array(oc_o, &voc, 'i', 8, 1, "out_consumers") < 0) goto fail;
    have[6] = 1;
    if (get_array(och_o, &voch, 'i', 1, 1, "out_channels") < 0) goto fail;
    have[7] = 1;
    if (get_array(ok_o, &vok, 'i', 4, 1, "out_kols") < 0) goto fail;
    have[8] = 1;

    const Py_ssize_t n = vorder.shape[0];
    if (vflat.shape[0] != n || voc.shape[0] < n || voch.shape[0] < n || vok.shape[0] < n) {
        PyErr_SetString(PyExc_ValueError, "order, flat and the outputs: n each");
        goto fail;
    }
    const int64_t *order = (const int64_t *)vorder.buf, *flat = (const int64_t *)vflat.buf;
    uint16_t *ec = (uint16_t *)vec.buf;
    const int8_t *state = (const int8_t *)vstate.buf;
    const double *boost = (const double *)vboost.buf;
    const double *fatigue = have[5] ? (const double *)vfat.buf : NULL;
    const Py_ssize_t n_ec = vec.shape[0], n_state = vstate.shape[0];
    if ((Py_ssize_t)max_seen >= vboost.shape[0] ||
        (fatigue && (Py_ssize_t)max_seen >= vfat.shape[0])) {
        PyErr_SetString(PyExc_IndexError, "the count's tables end before max_seen");
        goto fail;
    }

    Py_ssize_t nb = PyObject_Length(ends_o);
    if (nb < 0) goto fail;
    /* scratch: per batch (ends, firsts, content, channels, kols), per exposure (its batch,
     * p, p_plain) */
    size_t per_batch = sizeof(int64_t) * 3 + sizeof(double) + 1;
    size_t per_exposure = sizeof(int32_t) + 2 * sizeof(double);
    mem = (char *)malloc((size_t)nb * per_batch + (size_t)n * per_exposure + 64);
    if (!mem) {
        PyErr_NoMemory();
        goto fail;
    }
    double *p = (double *)mem;
    double *plain = p + n;
    int64_t *ends = (int64_t *)(plain + n);
    int64_t *channels = ends + nb;
    int64_t *kols = channels + nb;
    double *firsts = (double *)(kols + nb);
    int32_t *bid = (int32_t *)(firsts + nb);
    char *content = (char *)(bid + n);
    if (read_batches(ends_o, firsts_o, content_o, channels_o, kols_o, nb, ends, firsts,
                     content, channels, kols) < 0)
        goto fail;
    if (nb > INT32_MAX || (nb ? ends[nb - 1] : 0) != n) {
        PyErr_SetString(PyExc_ValueError, "ends: the last end must be n");
        goto fail;
    }
    {
        Py_ssize_t a = 0;
        for (Py_ssize_t b = 0; b < nb; b++)
            for (; a < ends[b]; a++) bid[a] = (int32_t)b;
    }

    /* pass 1: per group of a consumer (sorted exposures), the count (read and written:
     * uint16 arithmetic, saturated), the state, each member's probability before the rating
     * (first factors, boost, fatigue: numpy's order) and its minimum with 1 */
    int top_state = INT8_MIN;
    for (Py_ssize_t a = 0, e; a < n; a = e) {
        const int64_t key = flat[a];
        for (e = a + 1; e < n && flat[e] == key; e++)
            ;
        if (key < 0 || key >= n_ec || key >= n_state) {
            PyErr_SetString(PyExc_IndexError, "a consumer out of the books' bounds");
            goto fail;
        }
        unsigned cnt = (uint16_t)(ec[key] + (uint16_t)(e - a)); /* (ec + 1) + (size - 1) */
        if (cnt > (unsigned)max_seen) cnt = (unsigned)max_seen;
        ec[key] = (uint16_t)cnt;
        const int st = state[key];
        if (st > top_state) top_state = st;
        const double b = boost[cnt], f = fatigue ? fatigue[cnt] : 0.0;
        for (Py_ssize_t i = a; i < e; i++) {
            const int64_t o = order[i];
            if (o < 0 || o >= n) {
                PyErr_SetString(PyExc_IndexError, "order: a position out of bounds");
                goto fail;
            }
            double q = firsts[bid[o]];
            q *= b;
            if (fatigue) q *= f;
            p[i] = q;
            plain[i] = np_min1(q);
        }
    }
    const int some_state = n > 0 && top_state != NONE;
    const int lossless = (rating == 1.0 && !some_state) ||
                         (rating >= 1.0 && top_state != WARNED && unsigned_ok);

    /* pass 2: the rating, the warnings and the closed states; per group its chance (the
     * first highest: NaN after every number), the books' running sums over the sorted
     * exposures (the others adding 0.0) and the draw */
    double views = -0.0, lost = -0.0; /* -0.0: the first term as it is (accumulate) */
    Py_ssize_t k = 0;
    for (Py_ssize_t a = 0, e; a < n; a = e) {
        const int64_t key = flat[a];
        for (e = a + 1; e < n && flat[e] == key; e++)
            ;
        const int st = state[key];
        int closed;
        if (top_state == WARNED)
            closed = st != NONE && st != WARNED;
        else
            closed = some_state && st != NONE;
        Py_ssize_t best = a;
        for (Py_ssize_t i = a; i < e; i++) {
            double q = p[i] * rating;
            if (top_state == WARNED && st == WARNED) q *= warn;
            q = np_min1(q);
            if (closed) {
                q = 0.0;
                plain[i] = 0.0;
            }
            p[i] = q;
            if (i > a && (q > p[best] || (p[best] != p[best] && q == q))) best = i;
        }
        for (Py_ssize_t i = a; i < e; i++) {
            const int chance = i == best;
            if (content[bid[order[i]]]) views += chance ? p[i] : 0.0;
            if (!lossless) {
                double d = chance ? plain[i] - p[i] : 0.0;
                lost += (d > 0.0) ? d : 0.0; /* fmax(d, 0): NaN and losses of 0 add 0 */
            }
        }
        const double u = bg->next_double(bg->state);
        if (u < p[best]) {
            if (!wish) {
                wish = (wish_t *)malloc(sizeof(wish_t) * (size_t)(n > 0 ? n : 1));
                if (!wish) {
                    PyErr_NoMemory();
                    goto fail;
                }
            }
            wish[k].pos = order[best];
            wish[k].consumer = key;
            k++;
        }
    }
    if (k > 1) qsort(wish, (size_t)k, sizeof(wish_t), by_pos);
    {
        int64_t *oc = (int64_t *)voc.buf;
        int8_t *och = (int8_t *)voch.buf;
        int32_t *okl = (int32_t *)vok.buf;
        for (Py_ssize_t j = 0; j < k; j++) {
            const int32_t b = bid[wish[j].pos];
            oc[j] = wish[j].consumer;
            och[j] = (int8_t)channels[b];
            okl[j] = (int32_t)kols[b];
        }
    }
    result = Py_BuildValue("ndd", k, 0.0 + views, lossless ? 0.0 : lost);
fail:
    free(mem);
    free(wish);
    Py_buffer *views_[9] = {&vorder, &vflat, &vec, &vstate, &vboost, &vfat, &voc, &voch, &vok};
    for (int s = 0; s < 9; s++)
        if (have[s]) PyBuffer_Release(views_[s]);
    return result;
}

static PyMethodDef methods[] = {
    {"one_product_hour", one_product_hour, METH_VARARGS,
     "The wish decision of an hour of a world of one product (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wishes",
    "The wish decision of a world of one product in C (sim/agents/wishes.py's Python path "
    "is the reference: the same numbers and draws).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__wishes(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
