/* The scan loop of pss_scan._scan_native and the fail findings it builds, in C.
 *
 * Why: with the controls in C, the Python around them (the loop, the refs, 26,000 findings for 10,000
 * objects) cost as much as the evaluation and kept the scan at 2.7 times upstream's CPU. scan() does what
 * _scan_native and _pod_findings do, in the same order and with the same wording; an object it cannot
 * take (not a mapping, a List, an odd shape the screen gives up on) goes to the Python callback, so the
 * findings keep the objects' order and odd input keeps one implementation.
 *
 * A Finding (a frozen dataclass with __slots__) is made as dataclasses' __init__ would leave it: every
 * slot set, in field order. bind_finding() reads the slot offsets once and refuses a Finding whose fields
 * are not the ones this file fills.
 */
#include "_pss_native.h"

#include <structmember.h>

/* Finding's fields, in dataclasses.fields(Finding) order */
enum {
    F_CHECK_ID, F_TARGET, F_STATUS, F_OBSERVED, F_EXPECTED, F_MESSAGE, F_OBJECT, F_NAMESPACE, F_SEVERITY,
    F_SUITE, F_FILE, F_WAIVER, F_BASELINED, N_FIELDS
};
static const char *const FIELD_NAMES[N_FIELDS] = {
    "check_id", "target", "status", "observed", "expected", "message", "object", "namespace", "severity",
    "suite", "file", "waiver", "baselined",
};
static PyTypeObject *finding_type;
static Py_ssize_t offsets[N_FIELDS];
static PyObject *s_fail, *s_colon, *s_at, *s_close, *s_slash, *s_question, *s_sep, *k_kind, *k_metadata,
    *k_spec, *k_name_, *k_generateName, *k_namespace;

static int intern(void)
{
    const struct {
        PyObject **slot;
        const char *text;
    } table[] = {
        {&s_fail, "fail"}, {&s_colon, ": "}, {&s_at, " (at "}, {&s_close, ")"}, {&s_slash, "/"},
        {&s_question, "?"}, {&s_sep, ", "}, {&k_kind, "kind"}, {&k_metadata, "metadata"}, {&k_spec, "spec"},
        {&k_name_, "name"}, {&k_generateName, "generateName"}, {&k_namespace, "namespace"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!*table[i].slot && !(*table[i].slot = PyUnicode_InternFromString(table[i].text)))
            return -1;
    return 0;
}

const char pss_bind_finding_doc[] =
    "bind_finding(cls, fields)\n--\n\n"
    "Remember the slot offsets of cls (Finding: a dataclass with __slots__) for scan(); ``fields``:\n"
    "its field names in order, which must be the ones scan() fills.";

PyObject *pss_bind_finding(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyType_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "bind_finding(cls, fields): a class and a tuple of field names");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    PyObject *fields = args[1];
    if (intern() < 0)
        return NULL;
    if (PyTuple_GET_SIZE(fields) != N_FIELDS)
        return PyErr_Format(PyExc_TypeError, "%s has %zd fields; _pss_findings.c fills %d", cls->tp_name,
                            PyTuple_GET_SIZE(fields), N_FIELDS);
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, FIELD_NAMES[i]) != 0)
            return PyErr_Format(PyExc_TypeError, "%s's field %d is %R; _pss_findings.c fills %s there",
                                cls->tp_name, i, name, FIELD_NAMES[i]);
        PyObject *descr = PyDict_GetItemWithError(cls->tp_dict, name);
        if (!descr || Py_TYPE(descr) != &PyMemberDescr_Type ||
            ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "%s.%U is not a slot", cls->tp_name, name);
            return NULL;
        }
        offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    Py_XSETREF(finding_type, (PyTypeObject *)Py_NewRef(cls));
    Py_RETURN_NONE;
}

/* The concatenation of parts (str): ASCII copied in place, anything else joined by Python */
static PyObject *concat(PyObject *const *parts, int n)
{
    Py_ssize_t len = 0;
    int ascii = 1;
    for (int i = 0; i < n; i++) {
        ascii &= PyUnicode_IS_ASCII(parts[i]);
        len += PyUnicode_GET_LENGTH(parts[i]);
    }
    if (!ascii) {
        PyObject *t = PyTuple_New(n);
        if (!t)
            return NULL;
        for (int i = 0; i < n; i++)
            PyTuple_SET_ITEM(t, i, Py_NewRef(parts[i]));
        PyObject *out = PyUnicode_Join(s_empty, t);
        Py_DECREF(t);
        return out;
    }
    PyObject *out = PyUnicode_New(len, 127);
    if (!out)
        return NULL;
    Py_UCS1 *at = PyUnicode_1BYTE_DATA(out);
    for (int i = 0; i < n; i++) {
        memcpy(at, PyUnicode_1BYTE_DATA(parts[i]), PyUnicode_GET_LENGTH(parts[i]));
        at += PyUnicode_GET_LENGTH(parts[i]);
    }
    return out;
}

/* f"{ref}: {detail} (at {shown})", shown: the first four paths joined, then " and N more" */
static PyObject *message(PyObject *ref, PyObject *detail, PyObject *paths)
{
    PyObject *parts[4 + 2 * 4 + 1], *key, *value, *more = NULL;
    Py_ssize_t pos = 0, n = PyDict_GET_SIZE(paths);
    int k = 0;
    if (!PyUnicode_CheckExact(detail)) { /* never: the controls make str */
        PyErr_Format(PyExc_TypeError, "a detail is not a str: %R", detail);
        return NULL;
    }
    parts[k++] = ref;
    parts[k++] = s_colon;
    parts[k++] = detail;
    parts[k++] = s_at;
    for (int i = 0; i < 4 && PyDict_Next(paths, &pos, &key, &value); i++) {
        if (!PyUnicode_CheckExact(key))
            return PyErr_Format(PyExc_TypeError, "a path is not a str: %R", key);
        if (i)
            parts[k++] = s_sep;
        parts[k++] = key;
    }
    if (n > 4) {
        if (!(more = PyUnicode_FromFormat(" and %zd more", n - 4)))
            return NULL;
        parts[k++] = more;
    }
    parts[k++] = s_close;
    PyObject *out = concat(parts, k);
    Py_XDECREF(more);
    return out;
}

/* str(md.get(key)) when truthy, else NULL (no error) or NULL with an error set */
static PyObject *truthy_str(PyObject *md, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(md, key);
    if (!v)
        return NULL;
    int t = PyObject_IsTrue(v);
    if (t <= 0)
        return NULL;
    return PyObject_Str(v);
}

/* one Finding, every slot set (the values are borrowed) */
static PyObject *new_finding(PyObject *const values[N_FIELDS])
{
    PyObject *f = finding_type->tp_alloc(finding_type, 0);
    if (!f)
        return NULL;
    for (int i = 0; i < N_FIELDS; i++)
        *(PyObject **)((char *)f + offsets[i]) = Py_NewRef(values[i]);
    return f;
}

/* _pod_findings: the findings of one violating pod template, appended to out */
static int pod_findings(PyObject *out, PyObject *kind, PyObject *md, PyObject *hits, PyObject *rules,
                        PyObject *file, PyObject *suite)
{
    PyObject *name = NULL, *ns = NULL, *ref = NULL, *obj = NULL;
    int r = -1;
    if (md && !(name = truthy_str(md, k_name_)) && !PyErr_Occurred())
        name = truthy_str(md, k_generateName);
    if (PyErr_Occurred())
        goto done;
    if (!name)
        name = Py_NewRef(s_question);
    if (md && !(ns = truthy_str(md, k_namespace)) && PyErr_Occurred())
        goto done;
    if (ns && PyUnicode_GET_LENGTH(ns)) {
        PyObject *parts[5] = {kind, s_slash, ns, s_slash, name};
        if (!(ref = concat(parts, 5)))
            goto done;
    }
    PyObject *parts[3] = {kind, s_slash, name};
    if (!(obj = concat(parts, 3)) || (!ref && !(ref = Py_NewRef(obj))))
        goto done;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(hits); i++) {
        PyObject *hit = PyTuple_GET_ITEM(hits, i), *rule, *text, *finding;
        rule = PyDict_GetItemWithError(rules, PyTuple_GET_ITEM(hit, 0));
        if (!rule || !PyTuple_Check(rule) || PyTuple_GET_SIZE(rule) != 3) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_KeyError, "no rule for %R", PyTuple_GET_ITEM(hit, 0));
            goto done;
        }
        if (!(text = message(ref, PyTuple_GET_ITEM(hit, 2), PyTuple_GET_ITEM(hit, 1))))
            goto done;
        PyObject *values[N_FIELDS] = {
            PyTuple_GET_ITEM(rule, 0), ref, s_fail, PyTuple_GET_ITEM(hit, 1), PyTuple_GET_ITEM(rule, 1), text,
            obj, ns ? ns : Py_None, PyTuple_GET_ITEM(rule, 2), suite, file, Py_None, Py_False,
        };
        finding = new_finding(values);
        Py_DECREF(text);
        if (!finding)
            goto done;
        int appended = PyList_Append(out, finding);
        Py_DECREF(finding);
        if (appended < 0)
            goto done;
    }
    r = 0;
done:
    Py_XDECREF(name);
    Py_XDECREF(ns);
    Py_XDECREF(ref);
    Py_XDECREF(obj);
    return r;
}

/* PSS_OK: judged (its findings appended), PSS_ODD: for the Python callback, PSS_ERR: raised */
static int scan_one(PyObject *out, PyObject *obj, int restricted, int relax, PyObject *templates,
                    PyObject *rules, PyObject *file, PyObject *suite)
{
    PyObject *kind, *row, *holder = obj, *meta, *spec, *hits;
    if (!PyDict_CheckExact(obj))
        return PSS_ODD;
    GET(kind, obj, k_kind);
    if (!PyUnicode_CheckExact(kind))
        return PSS_ODD;
    row = PyDict_GetItemWithError(templates, kind);
    if (!row)
        return PyErr_Occurred() ? PSS_ERR : PSS_ODD;
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 4 || !PyTuple_Check(PyTuple_GET_ITEM(row, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(row, 2)) || !PyUnicode_Check(PyTuple_GET_ITEM(row, 3))) {
        PyErr_Format(PyExc_TypeError, "scan(): templates[%R] is not (path, text, spec path, metadata path)", kind);
        return PSS_ERR;
    }
    PyObject *path = PyTuple_GET_ITEM(row, 0);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(path); i++) {
        if (!PyDict_CheckExact(holder))
            return PSS_ODD;
        GET(holder, holder, PyTuple_GET_ITEM(path, i));
    }
    if (!PyDict_CheckExact(holder))
        return PSS_ODD;
    GET(meta, holder, k_metadata);
    GET(spec, holder, k_spec);
    hits = pss_evaluate(restricted, relax, meta, spec, PyTuple_GET_ITEM(row, 2), PyTuple_GET_ITEM(row, 3));
    if (!hits)
        return PSS_ERR;
    if (hits == Py_None) {
        Py_DECREF(hits);
        return PSS_ODD;
    }
    int r = PSS_OK;
    if (PyTuple_GET_SIZE(hits)) {
        PyObject *md;
        GET(md, obj, k_metadata);
        r = pod_findings(out, kind, PyDict_Check(md) ? md : NULL, hits, rules, file, suite) < 0 ? PSS_ERR
                                                                                                    : PSS_OK;
    }
    Py_DECREF(hits);
    return r;
}

const char pss_scan_doc[] =
    "scan(objects, restricted, relax_userns, file, suite, templates, rules, other)\n--\n\n"
    "pss_scan._scan_native in C: the fail findings of every object, in order. ``templates``: kind ->\n"
    "(path to the template, its text, spec path, metadata path); ``rules``: psa id -> (check id, title,\n"
    "severity); ``other(obj)``: the findings of an object this does not judge (a list).";

PyObject *pss_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 8 || !PyDict_CheckExact(args[5]) || !PyDict_CheckExact(args[6]) || !PyCallable_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "scan(objects, restricted, relax_userns, file, suite, templates: dict, "
                                         "rules: dict, other: callable)");
        return NULL;
    }
    if (!finding_type) {
        PyErr_SetString(PyExc_RuntimeError, "scan(): bind_finding() was not called");
        return NULL;
    }
    int restricted = PyObject_IsTrue(args[1]), relax = PyObject_IsTrue(args[2]);
    if (restricted < 0 || relax < 0)
        return NULL;
    PyObject *it = PyObject_GetIter(args[0]), *obj, *out = PyList_New(0);
    if (!it || !out)
        goto fail;
    while ((obj = PyIter_Next(it))) {
        int r = scan_one(out, obj, restricted, relax, args[5], args[6], args[3], args[4]);
        if (r == PSS_ODD) {
            PyObject *more = PyObject_CallOneArg(args[7], obj);
            r = more && PyList_SetSlice(out, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, more) == 0 ? PSS_OK : PSS_ERR;
            Py_XDECREF(more);
        }
        Py_DECREF(obj);
        if (r == PSS_ERR)
            goto fail;
    }
    if (PyErr_Occurred())
        goto fail;
    Py_DECREF(it);
    return out;
fail:
    Py_XDECREF(it);
    Py_XDECREF(out);
    return NULL;
}
