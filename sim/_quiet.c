/* The quiet hour's numbers on Python numbers, in C: two functions, each the same numbers as
 * its Python reference, which stays, unchanged, as the fallback (sim.compiled.load: not
 * built, stale or VIRALCHAIN_COMPILED=0); tests/test_quiet_kernel.py compares both on many
 * inputs.
 *
 * poisson_integers(outputs, lam, n): organic discovery's draws (sim/rng.py
 * `poisson_integers`, line for line; called by sim/agents/consumers.py organic_exposures).
 * A quiet hour's organic discovery draws from the first 64-bit outputs of its stream
 * (sim/rng.py `hour_outputs`: the generator's own outputs, worked out for many hours at
 * once) what numpy's Generator would draw from them: k = poisson(lam), then
 * integers(0, n) k times:
 *
 *   Poisson (numpy's random_poisson_mult, 0 < lam < 10): enlam = exp(-lam) (glibc's
 *     scalar exp, as Python's math.exp and numpy's random_poisson_mult call it); the
 *     uniforms (output >> 11) * 2**-53 (numpy's next_double of PCG64: exact) multiplied
 *     from the first one until the product is at most enlam; each product above it
 *     counts one.
 *   integers(0, n), 2 <= n < 2**32 (numpy's random_bounded_uint64 with use_masked false,
 *     Lemire's method on 32-bit words): the words are the unused outputs' halves, the
 *     lower half first and the upper one kept for the next word (numpy's next_uint32 of a
 *     64-bit generator); m = word * n, redrawn while its low 32 bits are below
 *     (2**32 - n) % n (checked only when they are below n); the draw is m >> 32. A bound of
 *     1 draws nothing (k zeros).
 *
 *   None (as the Python function) when lam is not in (0, 10) or NaN (an int mean beyond a
 *   double's range included), when n is not in [1, 2**32 - 1], or when the draws need more
 *   outputs than given; the mean, then the bound, are looked at before the outputs, as
 *   there. Where the two differ (arguments the caller never passes): the outputs must be a
 *   list or tuple of ints in [0, 2**64) (TypeError / OverflowError otherwise; the Python
 *   function iterates over anything), the bound an integer (its __index__: TypeError for a
 *   float, which the Python function compares and may use). Nothing is kept between
 *   calls; no Python code runs while the items are read (an int's value is read without
 *   __index__), so the borrowed items stay valid.
 *
 * one_chance(key, max_seen, counts, states, boost, fatigue, q, rating, warned): one
 * exposure of a quiet hour (sim/agents/wishes.py WishDecisions._one_wish, called by
 * _one_wish_in_c once the first factors q are known, sim/agents/wishes.py _first_factors):
 * the exposure's count written, its state read, and the rest of its chance and the demand
 * lost, the same float64 operations in the same order (its docstring below). Its draw and
 * the feedback's books stay in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

#define M32 0xFFFFFFFFULL
#define DOUBLE_UNIT (1.0 / 9007199254740992.0) /* 2**-53: numpy's next_double */

/* item i of a list or tuple as a uint64 (-1 with an error set: check PyErr_Occurred) */
static inline int
output_at(PyObject *seq, Py_ssize_t i, uint64_t *out)
{
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyLong_Check(item)) {
        PyErr_Format(PyExc_TypeError, "poisson_integers: output %zd is not an int", i);
        return -1;
    }
    /* the sign and the bit count checked, then the digits read masked (the same errors as
     * PyLong_AsUnsignedLongLong, which goes through _PyLong_AsByteArray: ≈ 400 instructions
     * an output above 2**63). _PyLong_Sign and _PyLong_NumBits are CPython's private API,
     * there on the pinned 3.12; their public replacements are PyLong_GetSign (3.14) and
     * PyLong_AsNativeBytes (3.13) */
    if (_PyLong_Sign(item) < 0) {
        PyErr_Format(PyExc_OverflowError, "poisson_integers: output %zd is negative", i);
        return -1;
    }
    size_t bits = _PyLong_NumBits(item);
    if (bits == (size_t)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (bits > 64) {
        PyErr_Format(PyExc_OverflowError, "poisson_integers: output %zd is 2**64 or more", i);
        return -1;
    }
    *out = (uint64_t)PyLong_AsUnsignedLongLongMask(item);
    return 0;
}

PyDoc_STRVAR(poisson_integers_doc,
"poisson_integers(outputs, lam, n) -> list | None\n\n"
"sim.rng.poisson_integers: k = poisson(lam) by numpy's multiplication method on the\n"
"outputs' doubles, then integers(0, n) k times on their 32-bit halves; None outside\n"
"0 < lam < 10 and 1 <= n < 2**32 (looked at first) or when the outputs run out.\n"
"outputs: a list or tuple of ints in [0, 2**64); n: an integer.");

static PyObject *
k_poisson_integers(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "poisson_integers(outputs, lam, n) takes 3 arguments");
        return NULL;
    }
    /* the mean, then the bound, then the outputs, as the Python function looks at them */
    double lam = PyFloat_AsDouble(args[1]);
    if (lam == -1.0 && PyErr_Occurred()) {
        if (PyLong_Check(args[1]) && PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear(); /* an int beyond a double's range: outside (0, 10) */
            Py_RETURN_NONE;
        }
        return NULL;
    }
    if (!(lam > 0.0 && lam < 10.0)) {
        Py_RETURN_NONE; /* (NaN too) */
    }
    /* n: any integer (the Python function compares it); out of [1, 2**32 - 1]: None */
    PyObject *n_obj = PyNumber_Index(args[2]);
    if (n_obj == NULL) {
        return NULL;
    }
    int overflow = 0;
    long long n_ll = PyLong_AsLongLongAndOverflow(n_obj, &overflow);
    Py_DECREF(n_obj);
    if (n_ll == -1 && !overflow && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || n_ll < 1 || (unsigned long long)n_ll > M32) {
        Py_RETURN_NONE;
    }
    const uint64_t n = (uint64_t)n_ll;
    PyObject *seq = args[0];
    if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "poisson_integers: outputs must be a list or tuple");
        return NULL;
    }
    /* (a list's items may move if Python code ran; none runs below: its size and items are
     * read afresh at each index, and _PyLong_Sign, _PyLong_NumBits and
     * PyLong_AsUnsignedLongLongMask call no __index__ on an int) */
    const double enlam = exp(-lam);
    Py_ssize_t k = 0, i = 0;
    double prod = 1.0;
    for (;;) {
        if (i >= PySequence_Fast_GET_SIZE(seq)) {
            Py_RETURN_NONE; /* the outputs ran out before the product fell */
        }
        uint64_t w;
        if (output_at(seq, i, &w) < 0) {
            return NULL;
        }
        i++;
        prod *= (double)(w >> 11) * DOUBLE_UNIT;
        if (prod > enlam) {
            k += 1;
        }
        else {
            break;
        }
    }
    PyObject *out = PyList_New(k);
    if (out == NULL) {
        return NULL;
    }
    if (n == 1) {
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *zero = PyLong_FromLong(0);
            if (zero == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(out, j, zero);
        }
        return out;
    }
    int have_half = 0;
    uint64_t half = 0;
    uint64_t threshold = 0;
    int have_threshold = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        uint64_t m;
        for (;;) {
            uint64_t v;
            if (have_half) {
                v = half;
                have_half = 0;
            }
            else {
                if (i >= PySequence_Fast_GET_SIZE(seq)) {
                    Py_DECREF(out);
                    Py_RETURN_NONE;
                }
                uint64_t w;
                if (output_at(seq, i, &w) < 0) {
                    Py_DECREF(out);
                    return NULL;
                }
                i++;
                v = w & M32;
                half = w >> 32;
                have_half = 1;
            }
            m = v * n;
            uint64_t leftover = m & M32;
            if (leftover >= n) {
                break;
            }
            if (!have_threshold) {
                threshold = (M32 + 1 - n) % n;
                have_threshold = 1;
            }
            if (leftover >= threshold) {
                break;
            }
        }
        PyObject *x = PyLong_FromUnsignedLongLong(m >> 32);
        if (x == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, j, x);
    }
    return out;
}

/* ------------------------------------------------------------------ one exposure */

/* the consumers' states (sim/agents/wishes.py NONE, WARNED; the module exports them and a
 * test holds them to the Python constants) */
#define STATE_NONE 0
#define STATE_WARNED 3

/* a 1-D buffer of one item format (a native format code, optionally after '@', '=' or
 * '<' on this little-endian host), any stride; 0, or -1 with TypeError / BufferError */
static int
get_1d(PyObject *obj, Py_buffer *view, char code, Py_ssize_t itemsize, int writable,
       const char *name)
{
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *f = view->format == NULL ? "B" : view->format;
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (view->ndim != 1 || f[0] != code || f[1] != '\0' || view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "one_chance: %s must be a 1-D array of format '%c'",
                     name, code);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define AT(view, T, i) (*(T *)((char *)(view).buf + (i) * (view).strides[0]))

static int
in_range(Py_ssize_t i, const Py_buffer *view, const char *name)
{
    if (i < 0 || i >= view->shape[0]) {
        PyErr_Format(PyExc_IndexError, "one_chance: index %zd out of range for %s (%zd)", i,
                     name, view->shape[0]);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(one_chance_doc,
"one_chance(key, max_seen, counts, states, boost, fatigue, q, rating, warned)\n"
"    -> None | (q, lost)\n\n"
"The rest of WishDecisions._one_wish for one exposure once its first factors are known\n"
"(q: conversion x appeal (x trust) x the price factor x novelty, worked out by the\n"
"caller on Python floats): the count counts[key] + 1 (uint16 arithmetic, capped at\n"
"max_seen) written; None for a consumer who bought or waits (states[key] neither NONE\n"
"nor WARNED); else q times boost[count] (times fatigue[count]), its minimum with 1.0\n"
"(plain), times the rating (times warned for a WARNED consumer), its minimum with 1.0,\n"
"and (q, plain - q): the same float64 operations in the same order. fatigue: an array\n"
"or None. Nothing is written when an argument is refused.");

static PyObject *
k_one_chance(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "one_chance takes 9 arguments");
        return NULL;
    }
    const Py_ssize_t key = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    if (key == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const Py_ssize_t max_seen = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (max_seen == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_seen < 0 || max_seen > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "one_chance: max_seen must be in [0, 65535]");
        return NULL;
    }
    double q = PyFloat_AsDouble(args[6]);
    if (q == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    const double rating = PyFloat_AsDouble(args[7]);
    if (rating == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    const double warned = PyFloat_AsDouble(args[8]);
    if (warned == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    /* every buffer first (any Python code they run, none after), every index checked
     * before the count is written */
    Py_buffer ec, st, bo, fa;
    Py_buffer *got[4] = {NULL};
    int n_got = 0;
    PyObject *result = NULL;
#define GET(view, arg, code, size, w, name)                                                 \
    do {                                                                                    \
        if (get_1d(args[arg], &(view), code, size, w, name) < 0) {                          \
            goto done;                                                                      \
        }                                                                                   \
        got[n_got++] = &(view);                                                             \
    } while (0)
    GET(ec, 2, 'H', 2, 1, "counts");
    GET(st, 3, 'b', 1, 0, "states");
    GET(bo, 4, 'd', 8, 0, "boost");
    const int has_fatigue = args[5] != Py_None;
    if (has_fatigue) {
        GET(fa, 5, 'd', 8, 0, "fatigue");
    }
    if (!in_range(key, &ec, "counts") || !in_range(key, &st, "states")) {
        goto done;
    }
    Py_ssize_t count = (Py_ssize_t)((AT(ec, uint16_t, key) + 1) & 0xFFFF);
    if (count > max_seen) {
        count = max_seen;
    }
    if (!in_range(count, &bo, "boost") || (has_fatigue && !in_range(count, &fa, "fatigue"))) {
        goto done;
    }
    AT(ec, uint16_t, key) = (uint16_t)count;
    const int state = AT(st, int8_t, key);
    if (state != STATE_NONE && state != STATE_WARNED) { /* bought or waiting: chance 0.0 */
        result = Py_NewRef(Py_None);
        goto done;
    }
    q *= AT(bo, double, count);
    if (has_fatigue) {
        q *= AT(fa, double, count);
    }
    const double plain = (1.0 < q) ? 1.0 : q; /* Python's min(q, 1.0): q unless 1.0 < q */
    q *= rating;
    if (state == STATE_WARNED) {
        q *= warned;
    }
    q = (1.0 < q) ? 1.0 : q;
    result = Py_BuildValue("(dd)", q, plain - q);
done:
#undef GET
    for (int i = n_got - 1; i >= 0; i--) {
        PyBuffer_Release(got[i]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"one_chance", (PyCFunction)(void (*)(void))k_one_chance, METH_FASTCALL, one_chance_doc},
    {"poisson_integers", (PyCFunction)(void (*)(void))k_poisson_integers, METH_FASTCALL,
     poisson_integers_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sim._quiet",
    "The quiet hour's numbers on Python numbers, in C: poisson_integers (sim/rng.py\n"
    "poisson_integers: organic discovery's draws) and one_chance (the rest of one\n"
    "exposure's chance, sim/agents/wishes.py WishDecisions._one_wish).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__quiet(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "NONE", STATE_NONE) < 0 ||
        PyModule_AddIntConstant(m, "WARNED", STATE_WARNED) < 0 ||
        PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
