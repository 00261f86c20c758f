/* The quiet hour's draws on Python numbers, in C (sim/rng.py `poisson_integers`).
 *
 * A quiet hour's organic discovery draws from the first 64-bit outputs of its stream
 * (sim/rng.py `hour_outputs`: the generator's own outputs, worked out for many hours at
 * once) what numpy's Generator would draw from them: k = poisson(lam), then
 * integers(0, n) k times. `poisson_integers` here is sim.rng.poisson_integers line for
 * line (that Python function stays, unchanged, as the fallback and the reference;
 * tests/test_quiet_kernel.py compares both on many inputs):
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
 * None (as the Python function) when lam is not in (0, 10) or NaN, when n is not in
 * [1, 2**32 - 1], or when the draws need more outputs than given. The outputs must be a
 * list or tuple of ints in [0, 2**64) (OverflowError / TypeError otherwise: the Python
 * function takes any such ints the same way and is not asked about others). Nothing is
 * kept between calls; no Python code runs while the items are read (an int's value is
 * read without __index__), so the borrowed items stay valid.
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
    /* (PyLong_AsUnsignedLongLong goes through _PyLong_AsByteArray: ≈ 400 instructions an
     * output above 2**63; the sign and bit count checked, then the digits read masked) */
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
"0 < lam < 10 and 1 <= n < 2**32 or when the outputs run out. outputs: a list or tuple\n"
"of ints in [0, 2**64).");

static PyObject *
k_poisson_integers(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "poisson_integers(outputs, lam, n) takes 3 arguments");
        return NULL;
    }
    PyObject *seq = args[0];
    if (!PyList_Check(seq) && !PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "poisson_integers: outputs must be a list or tuple");
        return NULL;
    }
    double lam = PyFloat_AsDouble(args[1]);
    if (lam == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    /* n: any int (the Python function compares it); out of [1, 2**32 - 1]: None */
    PyObject *n_obj = PyNumber_Index(args[2]); /* (before any item is read) */
    if (n_obj == NULL) {
        return NULL;
    }
    int overflow = 0;
    long long n_ll = PyLong_AsLongLongAndOverflow(n_obj, &overflow);
    Py_DECREF(n_obj);
    if (n_ll == -1 && !overflow && PyErr_Occurred()) {
        return NULL;
    }
    if (!(lam > 0.0 && lam < 10.0) || overflow || n_ll < 1 || (unsigned long long)n_ll > M32) {
        Py_RETURN_NONE;
    }
    const uint64_t n = (uint64_t)n_ll;
    /* (a list's items may move if Python code ran; none runs below: its size and items are
     * read afresh at each index, and PyLong_AsUnsignedLongLong calls no __index__) */
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

static PyMethodDef methods[] = {
    {"poisson_integers", (PyCFunction)(void (*)(void))k_poisson_integers, METH_FASTCALL,
     poisson_integers_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sim._quiet",
    "The quiet hour's draws on Python numbers (sim/rng.py poisson_integers), in C.",
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
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
