/* The Pod Security Standards at policy 1.34, in C: the screen and the controls, one call per pod template.
 *
 * Why: the scan had to cost at most twice the CPU of upstream's EvaluatePod; the pure-Python screen and
 * controls cost about eight times. evaluate() answers exactly what pss_versions.evaluate_pod_at answers
 * at LATEST (same controls, order, paths and wording), or None where pss_screen.may_violate gives up: the
 * caller then runs the Python path, so this code never has to be cleverer than the screen about odd
 * shapes. A compliant pod allocates nothing (the shared empty tuple).
 */
#include "_pss_native.h"

#define PSS_DEFINE(n) PyObject *k_##n;
PSS_KEYS(PSS_DEFINE)
#undef PSS_DEFINE

PyObject *caps_baseline, *sysctls_safe, *selinux_types, *allowed_volumes, *apparmor_prefix;
PyObject *s_zero, *s_empty, *s_runtime_default, *s_localhost_slash, *s_comma;
static PyObject *psa_ids[N_CONTROLS], *empty_tuple;
const char *const PSS_KIND_NAMES[3] = {"initContainers", "containers", "ephemeralContainers"};
static const char *const PSA_IDS[N_CONTROLS] = {
    "windowsHostProcess", "hostNamespaces", "privileged", "capabilities_baseline", "hostPathVolumes",
    "hostPorts", "appArmorProfile", "seLinuxOptions", "procMount", "seccompProfile_baseline", "sysctls",
    "hostProbesAndHostLifecycle", "restrictedVolumes", "allowPrivilegeEscalation", "runAsNonRoot",
    "runAsUser", "seccompProfile_restricted", "capabilities_restricted",
};
static const uint32_t BASELINE_SET = (FLAG(C_PROBES) << 1) - 1; /* the first twelve */
static const uint32_t RESTRICTED_SET =
    ((FLAG(N_CONTROLS)) - 1) & ~(FLAG(C_HOSTPATH) | FLAG(C_SECCOMP_B) | FLAG(C_CAPS_B));

/* -- the screen: pss_screen.may_violate, field by field ----------------------------------------------- */

/* d.get(keys[i]) for each i, None when unset. A dict smaller than the list (most securityContexts hold
 * two or three of the ten keys the screen reads) is read in one pass over its items, which touches less
 * memory than a lookup per key; a larger one, or one with a key that is not an exact str (whose __eq__
 * could match ours), by lookups. Both give what dict.get gives. */
static int fetch(PyObject *d, PyObject *const *keys, int n, PyObject **out)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    for (int i = 0; i < n; i++)
        out[i] = Py_None;
    if (PyDict_GET_SIZE(d) < n) {
        while (PyDict_Next(d, &pos, &k, &v)) {
            Py_hash_t h = PyUnicode_CheckExact(k) ? ((PyASCIIObject *)k)->hash : -1;
            if (h == -1)
                goto lookups;
            for (int i = 0; i < n; i++)
                if (k == keys[i] || (h == ((PyASCIIObject *)keys[i])->hash && pss_str_eq(k, keys[i]))) {
                    out[i] = v;
                    break;
                }
        }
        return PSS_OK;
    }
lookups:
    for (int i = 0; i < n; i++)
        GET(out[i], d, keys[i]);
    return PSS_OK;
}

/* _profile_ok: a seccomp or AppArmor profile that passes; ODD on a bad shape */
static int profile_ok(PyObject *p, int *ok)
{
    PyObject *t, *l;
    if (!PyDict_CheckExact(p))
        return PSS_ODD;
    GET(t, p, k_type);
    if (t != Py_None && !PyUnicode_CheckExact(t))
        return PSS_ODD;
    GET(l, p, k_localhostProfile);
    if (l != Py_None && !PyUnicode_CheckExact(l))
        return PSS_ODD;
    *ok = t != Py_None && (pss_str_eq(t, k_RuntimeDefault) || pss_str_eq(t, k_Localhost));
    return PSS_OK;
}

/* _strings: a mapping whose keys are strings when set */
static int strings_ok(PyObject *v, PyObject *const *keys, int n)
{
    PyObject *x;
    if (!PyDict_CheckExact(v))
        return PSS_ODD;
    for (int i = 0; i < n; i++) {
        GET(x, v, keys[i]);
        if (x != Py_None && !PyUnicode_CheckExact(x))
            return PSS_ODD;
    }
    return PSS_OK;
}

static int selinux_ok(PyObject *v)
{
    PyObject *keys[4] = {k_type, k_user, k_role, k_level};
    return strings_ok(v, keys, 4);
}

static int windows_ok(PyObject *v)
{
    PyObject *x;
    if (!PyDict_CheckExact(v))
        return PSS_ODD;
    GET(x, v, k_hostProcess);
    return x == Py_None || PyBool_Check(x) ? PSS_OK : PSS_ODD;
}

static int string_list(PyObject *v)
{
    if (!PyList_CheckExact(v))
        return PSS_ODD;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i)))
            return PSS_ODD;
    return PSS_OK;
}

/* an exact int equal to 0 (True is not one) */
static int int_is_zero(PyObject *v)
{
    int overflow;
    long x = PyLong_AsLongAndOverflow(v, &overflow);
    return !overflow && x == 0;
}

/* _handler_has_host: both actions are checked, whichever holds the host (the screen does the same) */
static int handler_has_host(PyObject *h, int *has)
{
    PyObject *keys[2] = {k_httpGet, k_tcpSocket}, *action, *host;
    if (h == Py_None)
        return PSS_OK;
    if (!PyDict_CheckExact(h))
        return PSS_ODD;
    for (int i = 0; i < 2; i++) {
        GET(action, h, keys[i]);
        if (action == Py_None)
            continue;
        if (!PyDict_CheckExact(action))
            return PSS_ODD;
        GET(host, action, k_host);
        if (host == Py_None)
            continue;
        if (!PyUnicode_CheckExact(host))
            return PSS_ODD;
        if (PyUnicode_GET_LENGTH(host))
            *has = 1;
    }
    return PSS_OK;
}

#define TRY(expr)                                                                                           \
    do {                                                                                                    \
        int r_ = (expr);                                                                                    \
        if (r_ != PSS_OK)                                                                                   \
            return r_;                                                                                      \
    } while (0)

static int screen_caps(PyObject *caps, uint32_t *flags)
{
    PyObject *drop, *add;
    if (caps == Py_None) {
        *flags |= FLAG(C_CAPS_R);
        return PSS_OK;
    }
    if (!PyDict_CheckExact(caps))
        return PSS_ODD;
    GET(drop, caps, k_drop);
    if (drop == Py_None)
        *flags |= FLAG(C_CAPS_R);
    else {
        TRY(string_list(drop));
        int has_all = PySequence_Contains(drop, k_ALL);
        if (has_all < 0)
            return PSS_ERR;
        if (!has_all)
            *flags |= FLAG(C_CAPS_R);
    }
    GET(add, caps, k_add);
    if (add == Py_None)
        return PSS_OK;
    TRY(string_list(add));
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(add); i++) {
        PyObject *cap = PyList_GET_ITEM(add, i);
        if (!pss_str_eq(cap, k_NET_BIND_SERVICE))
            *flags |= FLAG(C_CAPS_R);
        int known = PySet_Contains(caps_baseline, cap);
        if (known < 0)
            return PSS_ERR;
        if (!known)
            *flags |= FLAG(C_CAPS_B);
    }
    return PSS_OK;
}

/* What pod and container securityContexts share, from f[0]: runAsUser, seccompProfile, appArmorProfile,
 * seLinuxOptions, windowsOptions; sets whether the seccompProfile is set and passes */
static int screen_shared(PyObject *const *f, uint32_t *flags, int *seccomp_ok)
{
    PyObject *v;
    int ok;
    if ((v = f[0]) != Py_None) {
        if (!PyLong_CheckExact(v))
            return PSS_ODD;
        if (int_is_zero(v))
            *flags |= FLAG(C_RUNASUSER);
    }
    if ((v = f[1]) != Py_None) {
        TRY(profile_ok(v, &ok));
        *seccomp_ok = ok;
        if (!ok)
            *flags |= FLAG(C_SECCOMP_B) | FLAG(C_SECCOMP_R);
    }
    if ((v = f[2]) != Py_None) {
        TRY(profile_ok(v, &ok));
        if (!ok)
            *flags |= FLAG(C_APPARMOR);
    }
    if ((v = f[3]) != Py_None) {
        TRY(selinux_ok(v));
        *flags |= FLAG(C_SELINUX);
    }
    if ((v = f[4]) != Py_None) {
        TRY(windows_ok(v));
        *flags |= FLAG(C_WHP);
    }
    return PSS_OK;
}

/* _container_security; sets whether runAsNonRoot and seccompProfile are unset. A shape the screen gives
 * up on anywhere gives up on the pod, so the order of these checks does not change the answer. */
static int screen_security(PyObject *sc, uint32_t *flags, int *no_non_root, int *no_seccomp)
{
    enum { PRIV, APE, NONROOT, PROC, CAPS, SHARED, N = SHARED + 5 };
    PyObject *keys[N] = {k_privileged, k_allowPrivilegeEscalation, k_runAsNonRoot, k_procMount, k_capabilities,
                         k_runAsUser, k_seccompProfile, k_appArmorProfile, k_seLinuxOptions, k_windowsOptions};
    PyObject *f[N], *v;
    int seccomp_ok = 0;
    TRY(fetch(sc, keys, N, f));
    *no_non_root = f[NONROOT] == Py_None;
    *no_seccomp = f[SHARED + 1] == Py_None;
    if ((v = f[PRIV]) != Py_None) {
        if (!PyBool_Check(v))
            return PSS_ODD;
        if (v == Py_True)
            *flags |= FLAG(C_PRIV);
    }
    v = f[APE];
    if (v != Py_None && !PyBool_Check(v))
        return PSS_ODD;
    if (v != Py_False)
        *flags |= FLAG(C_APE);
    if ((v = f[NONROOT]) != Py_None) {
        if (!PyBool_Check(v))
            return PSS_ODD;
        if (v == Py_False)
            *flags |= FLAG(C_NONROOT);
    }
    if ((v = f[PROC]) != Py_None) {
        if (!PyUnicode_CheckExact(v))
            return PSS_ODD;
        if (!pss_str_eq(v, k_Default))
            *flags |= FLAG(C_PROCMOUNT);
    }
    TRY(screen_shared(f + SHARED, flags, &seccomp_ok));
    return screen_caps(f[CAPS], flags);
}

/* _container: flags, and whether runAsNonRoot and seccompProfile are unset */
static int screen_container(PyObject *c, Ctr *out, uint32_t *flags, int *no_non_root, int *no_seccomp)
{
    enum { NAME, PORTS, LIVENESS, READINESS, STARTUP, LIFECYCLE, SC, N };
    PyObject *keys[N] = {k_name, k_ports, k_livenessProbe, k_readinessProbe, k_startupProbe, k_lifecycle,
                         k_securityContext};
    PyObject *f[N], *v;
    int has = 0;
    if (!PyDict_CheckExact(c))
        return PSS_ODD;
    TRY(fetch(c, keys, N, f));
    if ((v = f[NAME]) != Py_None && !PyUnicode_CheckExact(v))
        return PSS_ODD;
    if ((v = f[PORTS]) != Py_None) {
        if (!PyList_CheckExact(v))
            return PSS_ODD;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            PyObject *port = PyList_GET_ITEM(v, i), *hp;
            if (!PyDict_CheckExact(port))
                return PSS_ODD;
            GET(hp, port, k_hostPort);
            if (hp == Py_None)
                continue;
            if (!PyLong_CheckExact(hp))
                return PSS_ODD;
            if (!int_is_zero(hp))
                *flags |= FLAG(C_HOSTPORTS);
        }
    }
    for (int i = LIVENESS; i <= STARTUP; i++)
        TRY(handler_has_host(f[i], &has));
    if ((v = f[LIFECYCLE]) != Py_None) {
        PyObject *h;
        if (!PyDict_CheckExact(v))
            return PSS_ODD;
        int life_host = 0;
        GET(h, v, k_postStart);
        TRY(handler_has_host(h, &life_host));
        if (!life_host) { /* `a or b`: preStop is not read when postStart has a host */
            GET(h, v, k_preStop);
            TRY(handler_has_host(h, &life_host));
        }
        has |= life_host;
    }
    if (has)
        *flags |= FLAG(C_PROBES);
    out->c = c;
    out->sc = NULL;
    if ((v = f[SC]) == Py_None) {
        *flags |= FLAG(C_APE) | FLAG(C_CAPS_R);
        *no_non_root = *no_seccomp = 1;
        return PSS_OK;
    }
    if (!PyDict_CheckExact(v))
        return PSS_ODD;
    out->sc = v;
    return screen_security(v, flags, no_non_root, no_seccomp);
}

/* _pod's securityContext part; sets whether it says runAsNonRoot=true and a passing seccompProfile */
static int screen_pod_security(PyObject *psc, uint32_t *flags, int *non_root, int *seccomp_ok)
{
    enum { NONROOT, SYSCTLS, SHARED, N = SHARED + 5 };
    PyObject *keys[N] = {k_runAsNonRoot, k_sysctls, k_runAsUser, k_seccompProfile, k_appArmorProfile,
                         k_seLinuxOptions, k_windowsOptions};
    PyObject *f[N], *v;
    TRY(fetch(psc, keys, N, f));
    if ((v = f[NONROOT]) != Py_None) {
        if (!PyBool_Check(v))
            return PSS_ODD;
        if (v == Py_False)
            *flags |= FLAG(C_NONROOT);
        *non_root = v == Py_True;
    }
    TRY(screen_shared(f + SHARED, flags, seccomp_ok));
    if ((v = f[SYSCTLS]) != Py_None) {
        if (!PyList_CheckExact(v))
            return PSS_ODD;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
            TRY(strings_ok(PyList_GET_ITEM(v, i), &k_name, 1));
        if (PyList_GET_SIZE(v))
            *flags |= FLAG(C_SYSCTLS);
    }
    return PSS_OK;
}

/* _pod: the pod-level fields; sets whether the pod sets runAsNonRoot=true and a passing seccompProfile */
static int screen_pod(Pod *pod, int *non_root, int *seccomp_ok, PyObject **ctrs)
{
    enum { NET, PID, IPC, USERS, OS, VOLUMES, SC, INIT, CTRS, EPHEMERAL, N };
    PyObject *keys[N] = {k_hostNetwork, k_hostPID, k_hostIPC, k_hostUsers, k_os, k_volumes, k_securityContext,
                         k_initContainers, k_containers, k_ephemeralContainers};
    PyObject *f[N], *v;
    uint32_t *flags = &pod->flags;
    *non_root = *seccomp_ok = 0;
    TRY(fetch(pod->spec, keys, N, f));
    for (int k = 0; k < 3; k++)
        ctrs[k] = f[INIT + k];
    for (int i = NET; i <= IPC; i++) {
        if ((v = f[i]) == Py_None)
            continue;
        if (!PyBool_Check(v))
            return PSS_ODD;
        if (v == Py_True)
            *flags |= FLAG(C_HOSTNS);
    }
    if ((v = f[USERS]) != Py_None && !PyBool_Check(v))
        return PSS_ODD;
    if ((v = f[OS]) != Py_None)
        TRY(strings_ok(v, &k_name, 1));
    if (pod->meta) {
        GET(v, pod->meta, k_annotations);
        if (v != Py_None) {
            PyObject *key, *value;
            Py_ssize_t pos = 0;
            if (!PyDict_CheckExact(v))
                return PSS_ODD;
            while (!(*flags & FLAG(C_APPARMOR)) && PyDict_Next(v, &pos, &key, &value)) {
                PyObject *text = PyObject_Str(key);
                if (!text)
                    return PSS_ERR;
                Py_ssize_t m = PyUnicode_Tailmatch(text, apparmor_prefix, 0, PY_SSIZE_T_MAX, -1);
                Py_DECREF(text);
                if (m < 0)
                    return PSS_ERR;
                if (m)
                    *flags |= FLAG(C_APPARMOR);
            }
        }
    }
    if ((v = f[VOLUMES]) != Py_None) {
        if (!PyList_CheckExact(v))
            return PSS_ODD;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
            PyObject *vol = PyList_GET_ITEM(v, i), *key, *value;
            Py_ssize_t pos = 0;
            int allowed = 0;
            if (!PyDict_CheckExact(vol))
                return PSS_ODD;
            while (PyDict_Next(vol, &pos, &key, &value)) {
                if (value == Py_None)
                    continue;
                if (key == k_hostPath || (PyUnicode_Check(key) && pss_str_eq(key, k_hostPath)))
                    *flags |= FLAG(C_HOSTPATH);
                else if (!allowed) {
                    int in = PySet_Contains(allowed_volumes, key);
                    if (in < 0)
                        return PSS_ERR;
                    allowed = in;
                }
            }
            if (!allowed)
                *flags |= FLAG(C_RVOL);
        }
    }
    if ((v = f[SC]) == Py_None)
        return PSS_OK;
    if (!PyDict_CheckExact(v))
        return PSS_ODD;
    pod->psc = v;
    return screen_pod_security(v, flags, non_root, seccomp_ok);
}

static int screen(Pod *pod)
{
    PyObject *lists[3], *ctrs;
    int pod_non_root, pod_seccomp, unset_non_root = 0, unset_seccomp = 0;
    TRY(screen_pod(pod, &pod_non_root, &pod_seccomp, lists));
    for (int k = 0; k < 3; k++) {
        if ((ctrs = lists[k]) == Py_None)
            continue;
        if (!PyList_CheckExact(ctrs))
            return PSS_ODD;
        Py_ssize_t n = PyList_GET_SIZE(ctrs);
        if (pod->n + n > pod->cap) {
            Py_ssize_t cap = (pod->n + n) * 2;
            Ctr *grown = PyMem_Malloc(cap * sizeof(Ctr));
            if (!grown) {
                PyErr_NoMemory();
                return PSS_ERR;
            }
            memcpy(grown, pod->ctrs, pod->n * sizeof(Ctr));
            if (pod->cap > 8) /* not the caller's stack array */
                PyMem_Free(pod->ctrs);
            pod->ctrs = grown;
            pod->cap = cap;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            Ctr *x = &pod->ctrs[pod->n];
            int no_non_root, no_seccomp;
            TRY(screen_container(PyList_GET_ITEM(ctrs, i), x, &pod->flags, &no_non_root, &no_seccomp));
            x->kind = k;
            x->idx = i;
            x->mark = 0;
            pod->n++;
            unset_non_root |= no_non_root;
            unset_seccomp |= no_seccomp;
        }
    }
    if (unset_non_root && !pod_non_root)
        pod->flags |= FLAG(C_NONROOT);
    if (unset_seccomp && !pod_seccomp)
        pod->flags |= FLAG(C_SECCOMP_R);
    return PSS_OK;
}

/* -- the entry point ---------------------------------------------------------------------------------- */

static PyObject *judge(Pod *pod, uint32_t level_set)
{
    PyObject *hits[N_CONTROLS];
    int n = 0, r = screen(pod);
    if (r == PSS_ERR)
        return NULL;
    if (r == PSS_ODD)
        Py_RETURN_NONE;
    uint32_t todo = pod->flags & level_set;
    for (int c = 0; todo && c < N_CONTROLS; c++) {
        if (!(todo & FLAG(c)))
            continue;
        PyObject *paths = PyDict_New(), *detail = NULL, *hit;
        if (!paths)
            goto fail;
        r = PSS_CONTROLS[c](pod, paths, &detail);
        if (r != PSS_OK || PyDict_GET_SIZE(paths) == 0) {
            Py_DECREF(paths);
            Py_XDECREF(detail);
            if (r == PSS_OK)
                continue;
            if (r == PSS_ERR)
                goto fail;
            while (n)
                Py_DECREF(hits[--n]);
            Py_RETURN_NONE;
        }
        hit = PyTuple_Pack(3, psa_ids[c], paths, detail);
        Py_DECREF(paths);
        Py_DECREF(detail);
        if (!hit)
            goto fail;
        hits[n++] = hit;
    }
    if (!n)
        return Py_NewRef(empty_tuple);
    PyObject *out = PyTuple_New(n);
    if (!out)
        goto fail;
    for (int i = 0; i < n; i++)
        PyTuple_SET_ITEM(out, i, hits[i]);
    return out;
fail:
    while (n)
        Py_DECREF(hits[--n]);
    return NULL;
}

PyDoc_STRVAR(evaluate_doc,
             "evaluate(restricted, relax_userns, meta, spec, spec_path, meta_path)\n--\n\n"
             "The controls the pod template violates at policy 1.34, as (psa_id, paths, detail) tuples in\n"
             "evaluate_pod_at's order (an empty tuple when compliant), or None: a shape the screen gives\n"
             "up on, for the Python path to judge.");

static PyObject *evaluate(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "evaluate() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    int restricted = PyObject_IsTrue(args[0]), relax = PyObject_IsTrue(args[1]);
    if (restricted < 0 || relax < 0)
        return NULL;
    if (!PyUnicode_Check(args[4]) || !PyUnicode_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "evaluate(): spec_path and meta_path must be str");
        return NULL;
    }
    return pss_evaluate(restricted, relax, args[2], args[3], args[4], args[5]);
}

PyObject *pss_evaluate(int restricted, int relax, PyObject *meta, PyObject *spec, PyObject *sp, PyObject *mp)
{
    if (!PyDict_CheckExact(spec) || (meta != Py_None && !PyDict_CheckExact(meta)))
        Py_RETURN_NONE;
    Ctr local[8];
    Pod pod = {meta == Py_None ? NULL : meta, spec, NULL, sp, mp, relax, local, 0, 8, 0};
    PyObject *out = judge(&pod, restricted ? RESTRICTED_SET : BASELINE_SET);
    if (pod.ctrs != local)
        PyMem_Free(pod.ctrs);
    return out;
}

static PyMethodDef methods[] = {
    {"evaluate", (PyCFunction)(void (*)(void))evaluate, METH_FASTCALL, evaluate_doc},
    {"bind_finding", (PyCFunction)(void (*)(void))pss_bind_finding, METH_FASTCALL, pss_bind_finding_doc},
    {"scan", (PyCFunction)(void (*)(void))pss_scan, METH_FASTCALL, pss_scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hadrill.compliance._pss_native",
    "Pod Security Standards (policy 1.34) screen and controls in C; see evaluate().", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int intern_all(void)
{
#define PSS_INTERN(n)                                                                                       \
    if (!(k_##n = PyUnicode_InternFromString(#n)))                                                         \
        return -1;
    PSS_KEYS(PSS_INTERN)
#undef PSS_INTERN
    for (int i = 0; i < N_CONTROLS; i++)
        if (!(psa_ids[i] = PyUnicode_InternFromString(PSA_IDS[i])))
            return -1;
    s_zero = PyLong_FromLong(0);
    s_empty = PyUnicode_InternFromString("");
    s_runtime_default = PyUnicode_InternFromString("runtime/default");
    s_localhost_slash = PyUnicode_InternFromString("localhost/");
    s_comma = PyUnicode_InternFromString(", ");
    empty_tuple = PyTuple_New(0);
    return s_zero && s_empty && s_runtime_default && s_localhost_slash && s_comma && empty_tuple ? 0 : -1;
}

/* pss.py's sets, so the two evaluators cannot drift apart on a capability or a sysctl */
static int read_pss(void)
{
    PyObject *pss = PyImport_ImportModule("hadrill.compliance.pss");
    if (!pss)
        return -1;
    caps_baseline = PyObject_GetAttrString(pss, "CAPS_BASELINE");
    sysctls_safe = PyObject_GetAttrString(pss, "SYSCTLS_SAFE");
    selinux_types = PyObject_GetAttrString(pss, "SELINUX_TYPES");
    apparmor_prefix = PyObject_GetAttrString(pss, "APPARMOR_PREFIX");
    PyObject *volumes = PyObject_GetAttrString(pss, "RESTRICTED_VOLUMES_ALLOWED");
    Py_DECREF(pss);
    allowed_volumes = volumes ? PyFrozenSet_New(volumes) : NULL;
    Py_XDECREF(volumes);
    if (!caps_baseline || !sysctls_safe || !selinux_types || !apparmor_prefix || !allowed_volumes)
        return -1;
    if (!PyAnySet_Check(caps_baseline) || !PyAnySet_Check(sysctls_safe) || !PyAnySet_Check(selinux_types) ||
        !PyUnicode_Check(apparmor_prefix)) {
        PyErr_SetString(PyExc_TypeError, "hadrill.compliance.pss: unexpected types for its constants");
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__pss_native(void)
{
    if (intern_all() < 0 || read_pss() < 0)
        return NULL;
    return PyModule_Create(&module);
}
