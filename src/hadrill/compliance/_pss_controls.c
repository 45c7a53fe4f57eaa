/* The 18 controls of hadrill/compliance/pss.py (policy 1.34), one C function each, same paths and wording.
 *
 * Each runs only on a pod the screen judged and flagged for it, fills `paths` in pss.py's insertion
 * order and sets *detail when it added any. Fields the screen checked are read at its types; fields it
 * does not check are read as leniently as pss.py reads them (_d, _l, truthiness, str()).
 */
#include "_pss_native.h"

/* -- helpers ------------------------------------------------------------------------------------------ */

/* An ASCII text built in place: most paths and details are, and PyUnicode_FromFormat cost more than the
 * controls themselves. `ok` drops to 0 on non-ASCII text or overflow: the caller then formats as before. */
typedef struct {
    char data[480];
    size_t n;
    int ok;
} Text;

static void t_add(Text *t, const char *s, size_t len)
{
    if (!t->ok || t->n + len > sizeof t->data) {
        t->ok = 0;
        return;
    }
    memcpy(t->data + t->n, s, len);
    t->n += len;
}

static void t_str(Text *t, const char *s)
{
    t_add(t, s, strlen(s));
}

static void t_uni(Text *t, PyObject *u)
{
    if (!PyUnicode_IS_ASCII(u))
        t->ok = 0;
    else
        t_add(t, (const char *)PyUnicode_1BYTE_DATA(u), (size_t)PyUnicode_GET_LENGTH(u));
}

static void t_index(Text *t, Py_ssize_t i)
{
    char digits[24];
    int n = sizeof digits;
    digits[--n] = ']';
    do {
        digits[--n] = (char)('0' + i % 10);
        i /= 10;
    } while (i && n > 1);
    digits[--n] = '[';
    t_add(t, digits + n, sizeof digits - n);
}

static PyObject *t_done(Text *t)
{
    PyObject *out = PyUnicode_New((Py_ssize_t)t->n, 127);
    if (out)
        memcpy(PyUnicode_1BYTE_DATA(out), t->data, t->n);
    return out;
}

/* base + a + "[idx]" (when idx >= 0) + b, e.g. spec + ".volumes" + "[2]" + ".hostPath" */
static PyObject *path_of(PyObject *base, const char *a, Py_ssize_t idx, const char *b)
{
    Text t = {.n = 0, .ok = 1};
    t_uni(&t, base);
    t_str(&t, a);
    if (idx >= 0)
        t_index(&t, idx);
    t_str(&t, b);
    if (t.ok)
        return t_done(&t);
    return idx >= 0 ? PyUnicode_FromFormat("%U%s[%zd]%s", base, a, idx, b) : PyUnicode_FromFormat("%U%s%s", base, a, b);
}

static const char *const KIND_DOT[3] = {".initContainers", ".containers", ".ephemeralContainers"};

static PyObject *ctr_path(Pod *pod, const Ctr *x, const char *suffix)
{
    return path_of(pod->sp, KIND_DOT[x->kind], x->idx, suffix);
}

/* paths[key] = value; steals key (NULL: an error already raised) */
static int put(PyObject *paths, PyObject *key, PyObject *value)
{
    if (!key)
        return PSS_ERR;
    int r = PyDict_SetItem(paths, key, value);
    Py_DECREF(key);
    return r < 0 ? PSS_ERR : PSS_OK;
}

/* put, stealing the value too */
static int put_new(PyObject *paths, PyObject *key, PyObject *value)
{
    if (!value) {
        Py_XDECREF(key);
        return PSS_ERR;
    }
    int r = put(paths, key, value);
    Py_DECREF(value);
    return r;
}

#define CHECK(expr)                                                                                         \
    do {                                                                                                    \
        if ((expr) != PSS_OK)                                                                               \
            return PSS_ERR;                                                                                 \
    } while (0)

/* v == an interned str, for any v */
static int eq_str(PyObject *v, PyObject *s)
{
    return PyUnicode_CheckExact(v) && pss_str_eq(v, s);
}

/* d.get(key) of a dict that may be NULL (an unset mapping reads as {}) */
static int get_in(PyObject *d, PyObject *key, PyObject **v)
{
    *v = Py_None;
    if (d)
        GET(*v, d, key);
    return PSS_OK;
}

/* _d(value): the dict or NULL for {} (pss.py's isinstance: a subclass counts) */
static PyObject *as_dict(PyObject *v)
{
    return PyDict_Check(v) ? v : NULL;
}

static int is_windows(Pod *pod, int *win)
{
    PyObject *os, *name;
    GET(os, pod->spec, k_os);
    CHECK(get_in(as_dict(os), k_name, &name));
    *win = eq_str(name, k_windows);
    return PSS_OK;
}

static int userns(Pod *pod, int *relaxed)
{
    PyObject *v;
    GET(v, pod->spec, k_hostUsers);
    *relaxed = pod->relax && v == Py_False;
    return PSS_OK;
}

/* _names over the marked containers: 'container "a"' or 'containers "a", "b"' */
static PyObject *names(Pod *pod)
{
    PyObject *list = PyList_New(0), *joined, *out;
    if (!list)
        return NULL;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        if (!pod->ctrs[i].mark)
            continue;
        PyObject *name = PyDict_GetItemWithError(pod->ctrs[i].c, k_name), *item;
        if (!name && PyErr_Occurred())
            goto fail;
        if (!name)
            item = PyUnicode_FromString("\"\"");
        else if (name == Py_None)
            item = PyUnicode_FromString("\"None\"");
        else
            item = PyUnicode_FromFormat("\"%U\"", name);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    joined = PyUnicode_Join(s_comma, list);
    if (!joined)
        goto fail;
    out = PyUnicode_FromFormat("%s %U", PyList_GET_SIZE(list) == 1 ? "container" : "containers", joined);
    Py_DECREF(joined);
    Py_DECREF(list);
    return out;
fail:
    Py_DECREF(list);
    return NULL;
}

/* a constant detail, made once (keyed by the literal's address) */
static int detail_of(PyObject **detail, const char *text)
{
    static struct {
        const char *text;
        PyObject *value;
    } made[N_CONTROLS + 4];
    int i = 0;
    while (made[i].text && made[i].text != text)
        i++;
    if (!made[i].text) {
        if (!(made[i].value = PyUnicode_InternFromString(text)))
            return PSS_ERR;
        made[i].text = text;
    }
    *detail = Py_NewRef(made[i].value);
    return PSS_OK;
}

/* "<prefix><names><suffix>" for the marked containers */
static int detail_names(Pod *pod, PyObject **detail, const char *prefix, const char *suffix)
{
    Text t = {.n = 0, .ok = 1};
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < pod->n; i++)
        count += pod->ctrs[i].mark != 0;
    t_str(&t, prefix);
    t_str(&t, count == 1 ? "container " : "containers ");
    for (Py_ssize_t i = 0, k = 0; t.ok && i < pod->n; i++) {
        if (!pod->ctrs[i].mark)
            continue;
        PyObject *name = PyDict_GetItemWithError(pod->ctrs[i].c, k_name);
        if (!name && PyErr_Occurred())
            return PSS_ERR;
        t_str(&t, k++ ? ", \"" : "\"");
        if (name == Py_None)
            t_str(&t, "None");
        else if (name)
            t_uni(&t, name);
        t_str(&t, "\"");
    }
    t_str(&t, suffix);
    if (t.ok) {
        *detail = t_done(&t);
        return *detail ? PSS_OK : PSS_ERR;
    }
    PyObject *who = names(pod);
    if (!who)
        return PSS_ERR;
    *detail = PyUnicode_FromFormat("%s%U%s", prefix, who, suffix);
    Py_DECREF(who);
    return *detail ? PSS_OK : PSS_ERR;
}

static int profile_type(PyObject *profile, PyObject **type, int *ok)
{
    CHECK(get_in(as_dict(profile), k_type, type));
    *ok = eq_str(*type, k_RuntimeDefault) || eq_str(*type, k_Localhost);
    return PSS_OK;
}

/* -- baseline ----------------------------------------------------------------------------------------- */

static int host_process(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *w, *hp;
    CHECK(get_in(pod->psc, k_windowsOptions, &w));
    CHECK(get_in(as_dict(w), k_hostProcess, &hp));
    if (hp == Py_True)
        CHECK(put(paths, path_of(pod->sp, ".securityContext.windowsOptions.hostProcess", -1, ""), Py_True));
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_windowsOptions, &w));
        CHECK(get_in(as_dict(w), k_hostProcess, &hp));
        if (hp == Py_True)
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.windowsOptions.hostProcess"), Py_True));
    }
    return detail_of(detail, "pod or containers must not set securityContext.windowsOptions.hostProcess=true");
}

static int host_namespaces(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *keys[3] = {k_hostNetwork, k_hostPID, k_hostIPC}, *v, *parts = PyList_New(0);
    if (!parts)
        return PSS_ERR;
    for (int i = 0; i < 3; i++) {
        PyObject *part;
        v = PyDict_GetItemWithError(pod->spec, keys[i]);
        if (v != Py_True) {
            if (PyErr_Occurred())
                goto fail;
            continue;
        }
        if (put(paths, PyUnicode_FromFormat("%U.%U", pod->sp, keys[i]), Py_True) != PSS_OK)
            goto fail;
        part = PyUnicode_FromFormat("%U=true", keys[i]);
        if (!part || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            goto fail;
        }
        Py_DECREF(part);
    }
    *detail = PyUnicode_Join(s_comma, parts);
    Py_DECREF(parts);
    return *detail ? PSS_OK : PSS_ERR;
fail:
    Py_DECREF(parts);
    return PSS_ERR;
}

static int privileged(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *v;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_privileged, &v));
        pod->ctrs[i].mark = v == Py_True;
        if (v == Py_True)
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.privileged"), Py_True));
    }
    if (!PyDict_GET_SIZE(paths))
        return PSS_OK;
    return detail_names(pod, detail, "", " must not set securityContext.privileged=true");
}

/* [c for c in add if <keep>]: keep_not_in a set, or keep != NET_BIND_SERVICE when set is NULL */
static PyObject *caps_extra(PyObject *add, PyObject *set)
{
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(add); i++) {
        PyObject *cap = PyList_GET_ITEM(add, i);
        int keep;
        if (set) {
            keep = PyUnicode_Check(cap) ? PySet_Contains(set, cap) : 0;
            if (keep < 0)
                goto fail;
            keep = !keep;
        }
        else {
            keep = PyObject_RichCompareBool(cap, k_NET_BIND_SERVICE, Py_NE);
            if (keep < 0)
                goto fail;
        }
        if (keep && PyList_Append(out, cap) < 0)
            goto fail;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static int capabilities_baseline(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *caps, *add;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_capabilities, &caps));
        CHECK(get_in(as_dict(caps), k_add, &add));
        if (!PyList_Check(add))
            continue;
        PyObject *extra = caps_extra(add, caps_baseline);
        if (!extra)
            return PSS_ERR;
        if (!PyList_GET_SIZE(extra)) {
            Py_DECREF(extra);
            continue;
        }
        CHECK(put_new(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.capabilities.add"), extra));
    }
    return detail_of(detail, "non-default capabilities added");
}

static int host_path_volumes(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *vols, *hp;
    GET(vols, pod->spec, k_volumes);
    for (Py_ssize_t i = 0; PyList_Check(vols) && i < PyList_GET_SIZE(vols); i++) {
        CHECK(get_in(as_dict(PyList_GET_ITEM(vols, i)), k_hostPath, &hp));
        if (hp != Py_None)
            CHECK(put(paths, path_of(pod->sp, ".volumes", i, ".hostPath"), hp));
    }
    return detail_of(detail, "hostPath volumes");
}

static int host_ports(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *ports, *hp;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        GET(ports, pod->ctrs[i].c, k_ports);
        for (Py_ssize_t j = 0; PyList_Check(ports) && j < PyList_GET_SIZE(ports); j++) {
            CHECK(get_in(as_dict(PyList_GET_ITEM(ports, j)), k_hostPort, &hp));
            if (hp == Py_None)
                continue;
            int zero = PyObject_RichCompareBool(hp, s_zero, Py_EQ);
            if (zero < 0)
                return PSS_ERR;
            if (zero)
                continue;
            char suffix[64];
            snprintf(suffix, sizeof suffix, ".ports[%zd].hostPort", j);
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], suffix), hp));
        }
    }
    return detail_of(detail, "hostPort");
}

/* one owner's profile (seccomp or AppArmor): paths[<where>.type] = its type when set and not allowed */
static int bad_profile(PyObject *sc, PyObject *field, PyObject *paths, PyObject *where)
{
    PyObject *prof, *type;
    int ok;
    if (!where)
        return PSS_ERR;
    if (get_in(sc, field, &prof) != PSS_OK || (prof != Py_None && profile_type(prof, &type, &ok) != PSS_OK))
        goto fail;
    if (prof != Py_None && !ok)
        return put(paths, where, type);
    Py_DECREF(where);
    return PSS_OK;
fail:
    Py_DECREF(where);
    return PSS_ERR;
}

static int profiles(Pod *pod, PyObject *paths, PyObject *field, const char *suffix)
{
    CHECK(bad_profile(pod->psc, field, paths, path_of(pod->sp, suffix, -1, "")));
    for (Py_ssize_t i = 0; i < pod->n; i++)
        CHECK(bad_profile(pod->ctrs[i].sc, field, paths, ctr_path(pod, &pod->ctrs[i], suffix)));
    return PSS_OK;
}

static int app_armor(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *notes, *key, *value;
    Py_ssize_t pos = 0;
    CHECK(profiles(pod, paths, k_appArmorProfile, ".securityContext.appArmorProfile.type"));
    CHECK(get_in(pod->meta, k_annotations, &notes));
    while (PyDict_Check(notes) && PyDict_Next(notes, &pos, &key, &value)) {
        PyObject *text = PyObject_Str(key);
        if (!text)
            return PSS_ERR;
        Py_ssize_t ours = PyUnicode_Tailmatch(text, apparmor_prefix, 0, PY_SSIZE_T_MAX, -1);
        Py_DECREF(text);
        if (ours < 0)
            return PSS_ERR;
        if (!ours)
            continue;
        PyObject *v = value == Py_None ? Py_NewRef(s_empty) : PyObject_Str(value);
        if (!v)
            return PSS_ERR;
        int bad = PyUnicode_GET_LENGTH(v) && PyUnicode_Compare(v, s_runtime_default) != 0;
        if (bad) {
            Py_ssize_t local = PyUnicode_Tailmatch(v, s_localhost_slash, 0, PY_SSIZE_T_MAX, -1);
            if (local < 0) {
                Py_DECREF(v);
                return PSS_ERR;
            }
            bad = !local;
        }
        if (!bad) {
            Py_DECREF(v);
            continue;
        }
        PyObject *shown = PyObject_Format(key, NULL);
        if (!shown) {
            Py_DECREF(v);
            return PSS_ERR;
        }
        CHECK(put_new(paths, PyUnicode_FromFormat("%U.annotations[%U]", pod->mp, shown), v));
        Py_DECREF(shown);
    }
    return detail_of(detail, "forbidden AppArmor profile");
}

/* one owner's seLinuxOptions: type outside the allowed set, then user and role when set */
static int selinux_owner(PyObject *sc, PyObject *paths, PyObject *where)
{
    PyObject *opts, *type, *v, *fields[2] = {k_user, k_role};
    int r = PSS_ERR;
    if (!where || get_in(sc, k_seLinuxOptions, &opts) != PSS_OK)
        goto done;
    r = PSS_OK;
    if (opts == Py_None)
        goto done;
    opts = as_dict(opts);
    if ((r = get_in(opts, k_type, &type)) != PSS_OK)
        goto done;
    /* str(opts.get("type") or ""): the screen let only a str or None through */
    int allowed = PySet_Contains(selinux_types, type == Py_None ? s_empty : type);
    if ((r = allowed < 0 ? PSS_ERR : PSS_OK) != PSS_OK)
        goto done;
    if (!allowed && (r = put(paths, PyUnicode_FromFormat("%U.seLinuxOptions.type", where), type)) != PSS_OK)
        goto done;
    for (int i = 0; i < 2; i++) {
        if ((r = get_in(opts, fields[i], &v)) != PSS_OK)
            goto done;
        int set = PyObject_IsTrue(v);
        if (set < 0) {
            r = PSS_ERR;
            goto done;
        }
        if (set && (r = put(paths, PyUnicode_FromFormat("%U.seLinuxOptions.%U", where, fields[i]), v)) != PSS_OK)
            goto done;
    }
done:
    Py_XDECREF(where);
    return r;
}

static int se_linux(Pod *pod, PyObject *paths, PyObject **detail)
{
    CHECK(selinux_owner(pod->psc, paths, path_of(pod->sp, ".securityContext", -1, "")));
    for (Py_ssize_t i = 0; i < pod->n; i++)
        CHECK(selinux_owner(pod->ctrs[i].sc, paths, ctr_path(pod, &pod->ctrs[i], ".securityContext")));
    return detail_of(detail, "forbidden securityContext.seLinuxOptions");
}

static int proc_mount(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *v;
    int relaxed;
    CHECK(userns(pod, &relaxed));
    if (relaxed)
        return PSS_OK;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_procMount, &v));
        if (v != Py_None && !eq_str(v, k_Default))
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.procMount"), v));
    }
    return detail_of(detail, "procMount must be Default");
}

static int seccomp_baseline(Pod *pod, PyObject *paths, PyObject **detail)
{
    CHECK(profiles(pod, paths, k_seccompProfile, ".securityContext.seccompProfile.type"));
    return detail_of(detail, "seccompProfile.type must be RuntimeDefault or Localhost when set");
}

/* sysctls: pss_versions._sysctls_at sorts the paths (by text: sysctls[10] before sysctls[2]) */
static int sysctls(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *items, *name, *rows = PyList_New(0);
    if (!rows || get_in(pod->psc, k_sysctls, &items) != PSS_OK)
        goto fail;
    for (Py_ssize_t i = 0; PyList_Check(items) && i < PyList_GET_SIZE(items); i++) {
        if (get_in(as_dict(PyList_GET_ITEM(items, i)), k_name, &name) != PSS_OK)
            goto fail;
        int safe = PyUnicode_Check(name) ? PySet_Contains(sysctls_safe, name) : 0;
        if (safe < 0)
            goto fail;
        if (safe)
            continue;
        PyObject *key = path_of(pod->sp, ".securityContext.sysctls", i, ".name");
        PyObject *row = key ? PyTuple_Pack(2, key, name) : NULL;
        Py_XDECREF(key);
        if (!row || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            goto fail;
        }
        Py_DECREF(row);
    }
    if (PyList_Sort(rows) < 0)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (PyDict_SetItem(paths, PyTuple_GET_ITEM(row, 0), PyTuple_GET_ITEM(row, 1)) < 0)
            goto fail;
    }
    Py_DECREF(rows);
    return detail_of(detail, "forbidden sysctls");
fail:
    Py_XDECREF(rows);
    return PSS_ERR;
}

/* one handler (a truthy probe or lifecycle hook): paths[<where>.<kind>.host] for each truthy host */
static int handler_hosts(Pod *pod, const Ctr *x, PyObject *h, const char *where, PyObject *paths)
{
    PyObject *kinds[2] = {k_httpGet, k_tcpSocket}, *action, *host;
    for (int i = 0; i < 2; i++) {
        CHECK(get_in(as_dict(h), kinds[i], &action));
        CHECK(get_in(as_dict(action), k_host, &host));
        int set = PyObject_IsTrue(host);
        if (set < 0)
            return PSS_ERR;
        if (!set)
            continue;
        char suffix[96];
        snprintf(suffix, sizeof suffix, ".%s.%s.host", where, i ? "tcpSocket" : "httpGet");
        CHECK(put(paths, ctr_path(pod, x, suffix), host));
    }
    return PSS_OK;
}

static int probe_hosts(Pod *pod, PyObject *paths, PyObject **detail)
{
    static const char *const probe_names[3] = {"livenessProbe", "readinessProbe", "startupProbe"};
    static const char *const hook_names[2] = {"lifecycle.postStart", "lifecycle.preStop"};
    PyObject *probes[3] = {k_livenessProbe, k_readinessProbe, k_startupProbe}, *hooks[2] = {k_postStart, k_preStop};
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        const Ctr *x = &pod->ctrs[i];
        PyObject *h, *life;
        for (int k = 0; k < 3; k++) {
            GET(h, x->c, probes[k]);
            int set = PyObject_IsTrue(h);
            if (set < 0)
                return PSS_ERR;
            if (set)
                CHECK(handler_hosts(pod, x, h, probe_names[k], paths));
        }
        GET(life, x->c, k_lifecycle);
        for (int k = 0; k < 2; k++) {
            CHECK(get_in(as_dict(life), hooks[k], &h));
            int set = PyObject_IsTrue(h);
            if (set < 0)
                return PSS_ERR;
            if (set)
                CHECK(handler_hosts(pod, x, h, hook_names[k], paths));
        }
    }
    return detail_of(detail, "probe or lifecycle host");
}

/* -- restricted --------------------------------------------------------------------------------------- */

static int restricted_volumes(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *vols;
    GET(vols, pod->spec, k_volumes);
    for (Py_ssize_t i = 0; PyList_Check(vols) && i < PyList_GET_SIZE(vols); i++) {
        PyObject *vol = as_dict(PyList_GET_ITEM(vols, i)), *key, *value;
        Py_ssize_t pos = 0, kinds = 0;
        int allowed = 0, odd = 0;
        while (vol && PyDict_Next(vol, &pos, &key, &value)) {
            if (value == Py_None || eq_str(key, k_name))
                continue;
            kinds++;
            odd |= !PyUnicode_CheckExact(key);
            int in = PySet_Contains(allowed_volumes, key);
            if (in < 0)
                return PSS_ERR;
            allowed |= in;
        }
        if (!kinds || allowed)
            continue;
        if (odd)
            return PSS_ODD; /* ", ".join would raise on a key that is not a str: the Python path raises it */
        PyObject *list = PyList_New(0), *name, *shown, *joined, *text;
        pos = 0;
        while (list && PyDict_Next(vol, &pos, &key, &value))
            if (value != Py_None && !pss_str_eq(key, k_name) && PyList_Append(list, key) < 0)
                Py_CLEAR(list);
        if (!list)
            return PSS_ERR;
        joined = PyUnicode_Join(s_comma, list);
        Py_DECREF(list);
        name = PyDict_GetItemWithError(vol, k_name);
        if (!joined || (!name && PyErr_Occurred())) {
            Py_XDECREF(joined);
            return PSS_ERR;
        }
        shown = name ? PyObject_Format(name, NULL) : Py_NewRef(s_empty);
        text = shown ? PyUnicode_FromFormat("%U: %U", shown, joined) : NULL;
        Py_XDECREF(shown);
        Py_DECREF(joined);
        CHECK(put_new(paths, path_of(pod->sp, ".volumes", i, ""), text));
    }
    return detail_of(detail, "restricted volume types");
}

static int allow_privilege_escalation(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *v;
    int win;
    CHECK(is_windows(pod, &win));
    if (win)
        return PSS_OK;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_allowPrivilegeEscalation, &v));
        pod->ctrs[i].mark = v != Py_False;
        if (v != Py_False)
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.allowPrivilegeEscalation"), v));
    }
    if (!PyDict_GET_SIZE(paths))
        return PSS_OK;
    return detail_names(pod, detail, "", " must set securityContext.allowPrivilegeEscalation=false");
}

static int run_as_non_root(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *pod_value, *v;
    int relaxed;
    CHECK(userns(pod, &relaxed));
    if (relaxed)
        return PSS_OK;
    CHECK(get_in(pod->psc, k_runAsNonRoot, &pod_value));
    if (pod_value != Py_None && pod_value != Py_True)
        CHECK(put(paths, path_of(pod->sp, ".securityContext.runAsNonRoot", -1, ""), pod_value));
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_runAsNonRoot, &v));
        if (v != Py_None && v != Py_True)
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.runAsNonRoot"), v));
    }
    if (PyDict_GET_SIZE(paths))
        return detail_of(detail, "pod or containers must not set securityContext.runAsNonRoot=false");
    if (pod_value == Py_True)
        return PSS_OK;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_runAsNonRoot, &v));
        pod->ctrs[i].mark = v == Py_None;
        if (v == Py_None)
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.runAsNonRoot"), Py_None));
    }
    if (!PyDict_GET_SIZE(paths))
        return PSS_OK;
    return detail_names(pod, detail, "pod or ", " must set securityContext.runAsNonRoot=true");
}

/* _is_zero: type(v) is int and v == 0 */
static int is_zero(PyObject *v)
{
    if (!PyLong_CheckExact(v))
        return 0;
    int overflow;
    long x = PyLong_AsLongAndOverflow(v, &overflow);
    return !overflow && x == 0;
}

static int run_as_user(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *v, *zero = s_zero;
    int relaxed;
    CHECK(userns(pod, &relaxed));
    if (relaxed)
        return PSS_OK;
    CHECK(get_in(pod->psc, k_runAsUser, &v));
    if (is_zero(v))
        CHECK(put(paths, path_of(pod->sp, ".securityContext.runAsUser", -1, ""), zero));
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_runAsUser, &v));
        if (is_zero(v))
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.runAsUser"), zero));
    }
    return detail_of(detail, "pod or containers must not set runAsUser=0");
}

static int seccomp_restricted(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *pod_prof, *type, *v;
    int win, pod_ok = 0;
    CHECK(is_windows(pod, &win));
    if (win)
        return PSS_OK;
    CHECK(get_in(pod->psc, k_seccompProfile, &pod_prof));
    if (pod_prof != Py_None)
        CHECK(profile_type(pod_prof, &type, &pod_ok));
    CHECK(profiles(pod, paths, k_seccompProfile, ".securityContext.seccompProfile.type"));
    if (PyDict_GET_SIZE(paths))
        return detail_of(detail,
                         "pod or containers must not set securityContext.seccompProfile.type to a forbidden value");
    if (pod_ok)
        return PSS_OK;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        CHECK(get_in(pod->ctrs[i].sc, k_seccompProfile, &v));
        pod->ctrs[i].mark = v == Py_None;
        if (v == Py_None)
            CHECK(put(paths, ctr_path(pod, &pod->ctrs[i], ".securityContext.seccompProfile"), Py_None));
    }
    if (!PyDict_GET_SIZE(paths))
        return PSS_OK;
    return detail_names(pod, detail, "pod or ",
                        " must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"");
}

static int capabilities_restricted(Pod *pod, PyObject *paths, PyObject **detail)
{
    PyObject *caps, *drop, *add;
    int win;
    CHECK(is_windows(pod, &win));
    if (win)
        return PSS_OK;
    for (Py_ssize_t i = 0; i < pod->n; i++) {
        const Ctr *x = &pod->ctrs[i];
        CHECK(get_in(x->sc, k_capabilities, &caps));
        if (caps == Py_None) {
            CHECK(put(paths, ctr_path(pod, x, ".securityContext.capabilities.drop"), Py_None));
            continue;
        }
        CHECK(get_in(as_dict(caps), k_drop, &drop));
        int all = PyList_Check(drop) ? PySequence_Contains(drop, k_ALL) : 0;
        if (all < 0)
            return PSS_ERR;
        if (!all) { /* list(drop): a copy, [] when drop is not a list */
            PyObject *dropped = PyList_Check(drop) ? PyList_GetSlice(drop, 0, PyList_GET_SIZE(drop)) : PyList_New(0);
            CHECK(put_new(paths, dropped ? ctr_path(pod, x, ".securityContext.capabilities.drop") : NULL, dropped));
        }
        CHECK(get_in(as_dict(caps), k_add, &add));
        if (!PyList_Check(add))
            continue;
        PyObject *extra = caps_extra(add, NULL);
        if (!extra)
            return PSS_ERR;
        if (!PyList_GET_SIZE(extra)) {
            Py_DECREF(extra);
            continue;
        }
        CHECK(put_new(paths, ctr_path(pod, x, ".securityContext.capabilities.add"), extra));
    }
    return detail_of(detail, "containers must set capabilities.drop=[\"ALL\"] and add at most NET_BIND_SERVICE");
}

const pss_control_fn PSS_CONTROLS[N_CONTROLS] = {
    host_process, host_namespaces, privileged, capabilities_baseline, host_path_volumes, host_ports,
    app_armor, se_linux, proc_mount, seccomp_baseline, sysctls, probe_hosts, restricted_volumes,
    allow_privilege_escalation, run_as_non_root, run_as_user, seccomp_restricted, capabilities_restricted,
};
