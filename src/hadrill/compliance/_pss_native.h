/* Shared by _pss_native.c (module, screen, entry point) and _pss_controls.c (the 18 controls).
 *
 * The controls mirror hadrill/compliance/pss.py at policy 1.34 and run only on a pod the screen (which
 * mirrors pss_screen.may_violate) has judged, so every field they read has the type the screen checked.
 */
#ifndef HADRILL_PSS_NATIVE_H
#define HADRILL_PSS_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* Interned keys and values: looked up by identity first, hashed once. */
#define PSS_KEYS(X)                                                                                         \
    X(hostNetwork) X(hostPID) X(hostIPC) X(hostUsers) X(os) X(name) X(annotations) X(volumes) X(hostPath)  \
    X(securityContext) X(runAsNonRoot) X(runAsUser) X(seccompProfile) X(appArmorProfile) X(seLinuxOptions) \
    X(windowsOptions) X(sysctls) X(initContainers) X(containers) X(ephemeralContainers) X(ports)           \
    X(hostPort) X(livenessProbe) X(readinessProbe) X(startupProbe) X(lifecycle) X(postStart) X(preStop)    \
    X(httpGet) X(tcpSocket) X(host) X(privileged) X(allowPrivilegeEscalation) X(procMount) X(capabilities) \
    X(drop) X(add) X(type) X(localhostProfile) X(user) X(role) X(level) X(hostProcess) X(RuntimeDefault)   \
    X(Localhost) X(Default) X(windows) X(ALL) X(NET_BIND_SERVICE)
#define PSS_DECLARE(n) extern PyObject *k_##n;
PSS_KEYS(PSS_DECLARE)
#undef PSS_DECLARE

/* pss.py's frozensets and prefixes, read from the module at import: one source of truth. */
extern PyObject *caps_baseline, *sysctls_safe, *selinux_types, *allowed_volumes, *apparmor_prefix;
extern PyObject *s_zero, *s_empty, *s_runtime_default, *s_localhost_slash, *s_comma;

/* The controls in pss.CONTROLS order (the order evaluate_pod_at reports them in). */
enum {
    C_WHP, C_HOSTNS, C_PRIV, C_CAPS_B, C_HOSTPATH, C_HOSTPORTS, C_APPARMOR, C_SELINUX, C_PROCMOUNT,
    C_SECCOMP_B, C_SYSCTLS, C_PROBES, C_RVOL, C_APE, C_NONROOT, C_RUNASUSER, C_SECCOMP_R, C_CAPS_R,
    N_CONTROLS
};
#define FLAG(c) (1u << (c))

/* Return codes: OK, ODD (a shape the screen gives up on: the caller runs the Python path), ERR (raised). */
enum { PSS_OK = 0, PSS_ODD = 1, PSS_ERR = -1 };

typedef struct {
    PyObject *c;  /* the container (a dict), borrowed */
    PyObject *sc; /* its securityContext (a dict) or NULL when unset */
    int kind;     /* 0 initContainers, 1 containers, 2 ephemeralContainers */
    Py_ssize_t idx;
    int mark; /* scratch: the containers a control names */
} Ctr;

typedef struct {
    PyObject *meta; /* a dict or NULL (no metadata) */
    PyObject *spec; /* a dict */
    PyObject *psc;  /* spec.securityContext (a dict) or NULL */
    PyObject *sp, *mp;
    int relax;
    Ctr *ctrs;
    Py_ssize_t n, cap;
    uint32_t flags;
} Pod;

extern const char *const PSS_KIND_NAMES[3];

/* dict.get(key) with None for a missing key; returns PSS_ERR from the caller when the lookup raised. */
#define GET(v, d, k)                                                                                        \
    do {                                                                                                    \
        (v) = PyDict_GetItemWithError((d), (k));                                                            \
        if ((v) == NULL) {                                                                                  \
            if (PyErr_Occurred())                                                                           \
                return PSS_ERR;                                                                             \
            (v) = Py_None;                                                                                  \
        }                                                                                                   \
    } while (0)

/* a == b for an exact str a and an interned str b */
static inline int pss_str_eq(PyObject *a, PyObject *b)
{
    return a == b || (PyUnicode_GET_LENGTH(a) == PyUnicode_GET_LENGTH(b) && PyUnicode_Compare(a, b) == 0);
}

/* evaluate() without its argument checks: the hits, () when compliant, None for the Python path */
PyObject *pss_evaluate(int restricted, int relax, PyObject *meta, PyObject *spec, PyObject *sp, PyObject *mp);

/* _pss_findings.c: the scan loop and the findings it builds */
PyObject *pss_bind_finding(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *pss_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
extern const char pss_bind_finding_doc[], pss_scan_doc[];

typedef int (*pss_control_fn)(Pod *pod, PyObject *paths, PyObject **detail);
extern const pss_control_fn PSS_CONTROLS[N_CONTROLS];

#endif
