/* The consumers' traits drawn straight into their columns (sim/agents/consumers.py,
 * ConsumerPopulation.__init__), by numpy's OWN distribution code.
 *
 * This kernel is linked against numpy's static library numpy/random/lib/libnpyrandom.a
 * (the C that numpy's Generator runs: numpy/random/src/distributions/distributions.c) and
 * calls its functions: each value is the one numpy's Generator computes, from the same
 * words of the bit generator in the same order, so the generator's state afterwards is
 * numpy's too. numpy's Generator, for scalar parameters and a size (numpy/random/
 * _generator.pyx and _common.pyx `cont`, numpy 2.5.x), fills a float64 array with
 *     rng.normal(loc, scale, k):      out[i] = random_normal(bitgen, loc, scale)
 *     rng.lognormal(mean, sigma, k):  out[i] = random_lognormal(bitgen, mean, sigma)
 *     rng.beta(a, b, k):              out[i] = random_beta(bitgen, a, b)
 * for i = 0 .. k - 1, holding the bit generator's lock with the GIL released. Here each
 * value goes through the caller's transform and numpy's cast straight into the column:
 *     normal(capsule, loc, scale, floor, out): out[i] = (float)(floor ? max0(x) : x), where
 *         max0(x) is np.maximum(0.0, x) (x itself when not below 0: -0.0 and NaN kept)
 *     lognormal(capsule, mean, sigma, out):    out[i] = (float)random_lognormal(...)
 *     beta(capsule, a, b, out):                out[i] = (float)random_beta(...)
 * with out a writable 1-D C-contiguous float32 column. For a > 1 and b > 1, random_beta's
 * own path is Ga = random_standard_gamma(a), Gb = random_standard_gamma(b), Ga / (Ga + Gb),
 * and each gamma recomputes b - 1/3 and 1/sqrt(9 b) on every call: here (fill_beta) those
 * two constants are computed once per column and the rest of numpy's gamma is copied as it
 * is, calling numpy's own random_standard_normal and next_double (the same doubles, the
 * same draws); other a and b call random_beta itself.
 * (float)x is the C conversion, round to nearest as numpy's astype: no float64 temporary.
 *
 * The parameters are checked as numpy checks them (scale, sigma: not negative, -0.0
 * refused as numpy's signbit test does; a, b > 0), and must be finite here (else
 * ValueError: the caller's Python path lets numpy decide); the checks come before any draw.
 * The GIL is released during the loop: the caller must hold rng.bit_generator.lock.
 *
 * The build records numpy's version (NUMPY_BUILT_VERSION, from setup.py); sim.compiled.load
 * refuses the module when the running numpy's version differs (its distributions could).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "numpy/random/distributions.h" /* numpy's bitgen_t and its distributions */

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif
#ifndef NUMPY_BUILT_VERSION
#define NUMPY_BUILT_VERSION "unknown"
#endif

static bitgen_t *
capsule_bitgen(PyObject *capsule)
{
    if (!PyCapsule_CheckExact(capsule)) {
        PyErr_SetString(PyExc_TypeError,
                        "expected a bit generator's capsule (rng.bit_generator.capsule)");
        return NULL;
    }
    return (bitgen_t *)PyCapsule_GetPointer(capsule, "BitGenerator");
}

/* a writable 1-D C-contiguous buffer of items of `size` bytes whose format is one of
 * `formats`; 0, or -1 with TypeError set (released) */
static int
get_out(PyObject *obj, Py_buffer *view, Py_ssize_t size, const char *formats, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    if (view->ndim != 1 || view->itemsize != size || f[0] == '\0' || f[1] != '\0'
        || strchr(formats, f[0]) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: out has the wrong type or shape", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* a parameter: a finite float; with `positive` above 0, else not negative (not -0.0) */
static int
get_param(PyObject *obj, int positive, const char *what, const char *name, double *value)
{
    const double v = PyFloat_AsDouble(obj);
    if (v == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (!isfinite(v) || (positive == 1 && !(v > 0.0)) || (positive == 0 && signbit(v))) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be finite%s", what, name,
                     positive == 1 ? " and above 0" : (positive == 0 ? " and not negative" : ""));
        return -1;
    }
    *value = v;
    return 0;
}

#define ANY (-1) /* get_param: any finite value */

enum kind { NORMAL, NORMAL_FLOOR, LOGNORMAL, BETA };

/* numpy's random_standard_gamma for a shape above 1 (Marsaglia and Tsang), with the two
 * constants it computes on every call, b = shape - 1/3 and c = 1/sqrt(9 b), computed once
 * by the caller (the same operations on the same values: the same doubles). The rest is
 * numpy's code as it is (numpy/random/src/distributions/distributions.c), calling numpy's
 * own random_standard_normal and the bit generator's next_double in the same order. */
static inline double
gamma_above_one(bitgen_t *g, double b, double c)
{
    double U, V, X;
    for (;;) {
        do {
            X = random_standard_normal(g);
            V = 1.0 + c * X;
        } while (V <= 0.0);

        V = V * V * V;
        U = g->next_double(g->state);
        if (U < 1.0 - 0.0331 * (X * X) * (X * X)) {
            return (b * V);
        }
        /* log(0.0) ok here */
        if (log(U) < 0.5 * X * X + b * (1. - V + log(V))) {
            return (b * V);
        }
    }
}

/* numpy's random_beta(bitgen, a, b) for a > 1 and b > 1 (its path of two gammas:
 * Ga = random_standard_gamma(a), Gb = random_standard_gamma(b), Ga / (Ga + Gb)), each
 * gamma's constants computed once for the whole column; other a and b: numpy's own */
static void
fill_beta(bitgen_t *g, double a, double b, float *out, Py_ssize_t n)
{
    Py_ssize_t i;
    if (!(a > 1.0 && b > 1.0)) {
        for (i = 0; i < n; i++) {
            out[i] = (float)random_beta(g, a, b);
        }
        return;
    }
    const double ba = a - 1. / 3., ca = 1. / sqrt(9 * ba);
    const double bb = b - 1. / 3., cb = 1. / sqrt(9 * bb);
    for (i = 0; i < n; i++) {
        const double Ga = gamma_above_one(g, ba, ca);
        const double Gb = gamma_above_one(g, bb, cb);
        out[i] = (float)(Ga / (Ga + Gb));
    }
}

static void
fill(bitgen_t *g, enum kind kind, double p, double q, float *out, Py_ssize_t n)
{
    Py_ssize_t i;
    switch (kind) {
    case NORMAL:
        for (i = 0; i < n; i++) {
            out[i] = (float)random_normal(g, p, q);
        }
        break;
    case NORMAL_FLOOR:
        for (i = 0; i < n; i++) {
            const double x = random_normal(g, p, q);
            out[i] = (float)(x < 0.0 ? 0.0 : x); /* np.maximum(0.0, x) */
        }
        break;
    case LOGNORMAL:
        for (i = 0; i < n; i++) {
            out[i] = (float)random_lognormal(g, p, q);
        }
        break;
    case BETA:
        fill_beta(g, p, q, out, n);
        break;
    }
}

/* the common entry: capsule, two parameters, out; the parameters checked before a draw */
static PyObject *
draw_into(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, enum kind kind,
          const char *what, const char *p_name, int p_check, const char *q_name, int q_check)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", what, want);
        return NULL;
    }
    bitgen_t *g = capsule_bitgen(args[0]);
    double p, q;
    if (g == NULL || get_param(args[1], p_check, what, p_name, &p) < 0
        || get_param(args[2], q_check, what, q_name, &q) < 0) {
        return NULL;
    }
    if (want == 5) { /* normal's floor */
        const int floor = PyObject_IsTrue(args[3]);
        if (floor < 0) {
            return NULL;
        }
        kind = floor ? NORMAL_FLOOR : NORMAL;
    }
    Py_buffer view;
    if (get_out(args[want - 1], &view, sizeof(float), "f", what) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    fill(g, kind, p, q, (float *)view.buf, view.shape[0]);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(normal_doc,
"normal(capsule, loc, scale, floor, out) -> None\n\n"
"out[:] = rng.normal(loc, scale, len(out)) cast to float32 (first np.maximum(0.0, .) if\n"
"floor), by numpy's random_normal; out a writable 1-D float32 array. loc finite, scale\n"
"finite and not negative, else ValueError and no draw. Hold rng.bit_generator.lock.");

static PyObject *
k_normal(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return draw_into(args, nargs, 5, NORMAL, "normal", "loc", ANY, "scale", 0);
}

PyDoc_STRVAR(lognormal_doc,
"lognormal(capsule, mean, sigma, out) -> None\n\n"
"out[:] = rng.lognormal(mean, sigma, len(out)) cast to float32, by numpy's\n"
"random_lognormal; out a writable 1-D float32 array. mean finite, sigma finite and not\n"
"negative, else ValueError and no draw. Hold rng.bit_generator.lock.");

static PyObject *
k_lognormal(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return draw_into(args, nargs, 4, LOGNORMAL, "lognormal", "mean", ANY, "sigma", 0);
}

PyDoc_STRVAR(beta_doc,
"beta(capsule, a, b, out) -> None\n\n"
"out[:] = rng.beta(a, b, len(out)) cast to float32, by numpy's random_beta; out a\n"
"writable 1-D float32 array. a and b finite and above 0, else ValueError and no draw.\n"
"Hold rng.bit_generator.lock.");

static PyObject *
k_beta(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return draw_into(args, nargs, 4, BETA, "beta", "a", 1, "b", 1);
}

static PyMethodDef methods[] = {
    {"normal", (PyCFunction)(void (*)(void))k_normal, METH_FASTCALL, normal_doc},
    {"lognormal", (PyCFunction)(void (*)(void))k_lognormal, METH_FASTCALL, lognormal_doc},
    {"beta", (PyCFunction)(void (*)(void))k_beta, METH_FASTCALL, beta_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sim._traits",
    "The consumers' traits drawn into their columns by numpy's own distribution code\n"
    "(linked from numpy's libnpyrandom.a): normal, lognormal and beta, the values and\n"
    "generator state of rng.normal, rng.lognormal and rng.beta followed by the Python\n"
    "path's transform and cast. NUMPY_BUILT_VERSION: the numpy it was built with.",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__traits(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0
        || PyModule_AddStringConstant(m, "NUMPY_BUILT_VERSION", NUMPY_BUILT_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
