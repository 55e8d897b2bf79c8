/* tracline's speedups: the capture audit hook's common case, and stat'ing many files at
 * once, in C. Each has a Python equivalent that is the reference and the whole
 * implementation where this extension is missing.
 *
 * The hook. CPython calls every audit hook on every audited event, and a captured program
 * may open thousands of files. For the usual `open` — a str path that needs no normalising
 * or escaping — this hook does what `_hooks.Recorder.hook` does (classify the open, make the
 * path absolute, report each (kind, path) once, one write(2) of one log line) without
 * running Python code. Everything else is handed to the Python recorder, which stays the
 * reference implementation and is the whole hook wherever this extension is missing:
 * other events (rename, remove, subprocess, chdir, ...) and any open whose path is bytes,
 * a descriptor, a path-like object, not valid UTF-8, or has an empty, "." or ".." part.
 * tests/capture/test_speedups.py holds both implementations to the same log lines.
 *
 * stat_many(names, dir_fd, follow): the mode and identity (device, inode, size, mtime and
 * ctime in ns) of each of thousands of files — the end of a run checking that the digests
 * taken while it went on still hold, a directory walk of the stat cache — with the system
 * calls made without the GIL (on two threads past 512 names) and without a stat_result
 * object per file (what os.stat / os.lstat do, one by one, otherwise).
 *
 * Built against CPython's limited API (3.11), so one binary serves every later CPython a
 * captured program may run, plus PySys_AddAuditHook: not in the limited API, but public and
 * unchanged since 3.8. The hook's state is only touched with the GIL held (audit hooks and
 * the module's functions are called with it); stat_many's threads touch only their batch.
 */

#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030B0000
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __APPLE__
#define MTIME(st) ((st)->st_mtimespec)
#define CTIME(st) ((st)->st_ctimespec)
#else
#define MTIME(st) ((st)->st_mtim)
#define CTIME(st) ((st)->st_ctim)
#endif

typedef int (*audit_hook_t)(const char *event, PyObject *args, void *data);
PyAPI_FUNC(int) PySys_AddAuditHook(audit_hook_t hook, void *data);

/* One reported (kind, path): the key is the kind's letter followed by the path. */
typedef struct {
    uint64_t hash;
    char *key; /* NULL: empty slot */
    size_t len;
} Slot;

static struct {
    PyObject *dispatch;          /* the Python recorder's hook; NULL until installed */
    PyInterpreterState *interp;  /* the interpreter that installed it */
    char **events;               /* the other events the Python recorder handles */
    Py_ssize_t n_events;
    int registered;              /* the C hook is in CPython's list (it cannot be removed) */
    int active, files, fd;
    long pid;
    int quiet_set;
    unsigned long quiet;         /* a thread whose opens are not reported */
    char *cwd;                   /* the working directory; NULL: look it up on next use */
    size_t cwd_len;
    Slot *slots;
    size_t capacity, used;
    char *line;                  /* scratch buffer for one log line */
    size_t line_cap;
} S = {NULL, NULL, NULL, 0, 0, 0, 1, -1, 0, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0};

/* -- the set of reported keys ------------------------------------------------------------- */

static uint64_t
fnv1a(const char *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void
forget_all(void)
{
    for (size_t i = 0; i < S.capacity; i++) {
        free(S.slots[i].key);
    }
    free(S.slots);
    S.slots = NULL;
    S.capacity = S.used = 0;
}

static int
grow(void)
{
    size_t capacity = S.capacity ? S.capacity * 2 : 1024;
    Slot *slots = calloc(capacity, sizeof(Slot));
    if (slots == NULL) {
        return -1;
    }
    for (size_t i = 0; i < S.capacity; i++) {
        Slot *old = &S.slots[i];
        if (old->key != NULL) {
            size_t j = old->hash & (capacity - 1);
            while (slots[j].key != NULL) {
                j = (j + 1) & (capacity - 1);
            }
            slots[j] = *old;
        }
    }
    free(S.slots);
    S.slots = slots;
    S.capacity = capacity;
    return 0;
}

/* 1 if the key is new (and is now remembered), 0 if it was seen, -1 without memory. */
static int
remember(const char *key, size_t len)
{
    if ((S.used + 1) * 2 > S.capacity && grow() < 0) {
        return -1;
    }
    uint64_t hash = fnv1a(key, len);
    size_t j = hash & (S.capacity - 1);
    while (S.slots[j].key != NULL) {
        Slot *slot = &S.slots[j];
        if (slot->hash == hash && slot->len == len && memcmp(slot->key, key, len) == 0) {
            return 0;
        }
        j = (j + 1) & (S.capacity - 1);
    }
    char *copy = malloc(len);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, key, len);
    S.slots[j].hash = hash;
    S.slots[j].key = copy;
    S.slots[j].len = len;
    S.used++;
    return 1;
}

/* -- the open event ----------------------------------------------------------------------- */

static int
reserve(size_t size)
{
    if (size <= S.line_cap) {
        return 0;
    }
    size_t cap = S.line_cap ? S.line_cap : 4096;
    while (cap < size) {
        cap *= 2;
    }
    char *line = realloc(S.line, cap);
    if (line == NULL) {
        return -1;
    }
    S.line = line;
    S.line_cap = cap;
    return 0;
}

static int
know_cwd(void)
{
    if (S.cwd != NULL) {
        return 0;
    }
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL) {
        return -1;
    }
    S.cwd = cwd;
    S.cwd_len = strlen(cwd);
    return 0;
}

/* True when a path is recorded as written here, i.e. needs no escaping and no
 * normalisation: no tab, newline, backslash or NUL, and no empty, "." or ".." part
 * (an absolute path's leading "/" aside). */
static int
plain_path(const char *text, size_t len)
{
    size_t start = text[0] == '/' ? 1 : 0;
    size_t part = start;
    for (size_t i = start; i <= len; i++) {
        char c = i < len ? text[i] : '/';
        if (c == '\t' || c == '\n' || c == '\\' || c == '\0') {
            return 0;
        }
        if (c == '/') {
            size_t n = i - part;
            if (n == 0 || (n == 1 && text[part] == '.') ||
                (n == 2 && text[part] == '.' && text[part + 1] == '.')) {
                return 0;
            }
            part = i + 1;
        }
    }
    return 1;
}

static void
write_all(const char *data, size_t len)
{
    ssize_t n;
    do {
        n = write(S.fd, data, len);
    } while (n < 0 && errno == EINTR);
}

/* Handle an `open` event here: 1 if done (reported or rightly ignored), 0 to leave it to
 * the Python recorder. Never leaves an exception set. */
static int
on_open(PyObject *args)
{
    Py_ssize_t n_args = PyTuple_Size(args);
    if (n_args < 1) {
        PyErr_Clear();
        return 0;
    }
    PyObject *path = PyTuple_GetItem(args, 0);
    if (path == NULL || !PyUnicode_CheckExact(path)) {
        PyErr_Clear();
        return 0;
    }
    long flags = O_RDONLY;
    if (n_args > 2) {
        PyObject *value = PyTuple_GetItem(args, 2);
        if (value != NULL && PyLong_Check(value)) {
            flags = PyLong_AsLong(value);
            if (flags == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                return 0;
            }
        }
    }
    if (S.quiet_set && PyThread_get_thread_ident() == S.quiet) {
        return 1;
    }
    if (flags & O_DIRECTORY) {
        return 1;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(path, &size);
    if (text == NULL) { /* e.g. surrogates from undecodable bytes: Python escapes them */
        PyErr_Clear();
        return 0;
    }
    size_t len = (size_t)size;
    if (len == 0) {
        return 1;
    }
    if (!plain_path(text, len)) {
        return 0;
    }
    int relative = text[0] != '/';
    if (relative && know_cwd() < 0) {
        return 0;
    }
    /* The line: KIND TAB PID TAB PATH NEWLINE; the key (KIND PATH) is built in its tail. */
    char pid[24];
    int pid_len = snprintf(pid, sizeof pid, "\t%ld\t", S.pid);
    /* The working directory is absolute and normal; only "/" ends in a separator. */
    size_t sep = relative && S.cwd[S.cwd_len - 1] != '/';
    size_t path_len = relative ? S.cwd_len + sep + len : len;
    if (reserve(1 + (size_t)pid_len + path_len + 1 + 1 + path_len) < 0) {
        return 0;
    }
    char *line = S.line;
    char *full = line + 1 + pid_len;
    if (relative) {
        memcpy(full, S.cwd, S.cwd_len);
        if (sep) {
            full[S.cwd_len] = '/';
        }
        memcpy(full + S.cwd_len + sep, text, len);
    } else {
        memcpy(full, text, len);
    }
    full[path_len] = '\0';
    char kind;
    if ((flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_APPEND | O_TRUNC))) {
        kind = 'R';
    } else if ((flags & O_TRUNC) || ((flags & O_CREAT) && (flags & O_EXCL))) {
        kind = 'W';
    } else {
        struct stat st;
        kind = stat(full, &st) == 0 ? 'U' : 'W';
    }
    char *key = full + path_len + 1;
    key[0] = kind;
    memcpy(key + 1, full, path_len);
    int fresh = remember(key, path_len + 1);
    if (fresh < 0) {
        return 0;
    }
    if (fresh) {
        line[0] = kind;
        memcpy(line + 1, pid, (size_t)pid_len);
        full[path_len] = '\n';
        write_all(line, 1 + (size_t)pid_len + path_len + 1);
    }
    return 1;
}

/* -- the hook ------------------------------------------------------------------------------ */

static int
forwarded(const char *event)
{
    for (Py_ssize_t i = 0; i < S.n_events; i++) {
        if (strcmp(event, S.events[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
audit(const char *event, PyObject *args, void *data)
{
    (void)data;
    if (S.dispatch == NULL || PyInterpreterState_Get() != S.interp) {
        return 0;
    }
    if (strcmp(event, "open") == 0) {
        if (!S.active) {
            return 0;
        }
        if (!S.files || on_open(args)) {
            return 0;
        }
    } else {
        if (strcmp(event, "os.chdir") == 0) { /* announced before it happens */
            free(S.cwd);
            S.cwd = NULL;
        }
        if (!S.active || !forwarded(event)) {
            return 0;
        }
    }
    PyObject *dispatch = S.dispatch;
    Py_INCREF(dispatch);
    PyObject *result = PyObject_CallFunction(dispatch, "sO", event, args);
    Py_DECREF(dispatch);
    if (result == NULL) {
        /* The recorder swallows Exception; what is left (KeyboardInterrupt, SystemExit)
         * propagates, as it would from a hook added with sys.addaudithook. */
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* -- the module ---------------------------------------------------------------------------- */

static void
free_events(void)
{
    for (Py_ssize_t i = 0; i < S.n_events; i++) {
        free(S.events[i]);
    }
    free(S.events);
    S.events = NULL;
    S.n_events = 0;
}

PyDoc_STRVAR(install_doc,
"install(dispatch, events, fd, pid) -> bool\n\n"
"Report opens to the log open at ``fd`` from now on, and pass ``events`` (and the opens\n"
"handled in Python) to ``dispatch(event, args)``. False when another recorder of this\n"
"process already owns the hook (that one then goes on without C).");

static PyObject *
install(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *dispatch, *events;
    int fd;
    long pid;
    if (!PyArg_ParseTuple(args, "OOil:install", &dispatch, &events, &fd, &pid)) {
        return NULL;
    }
    if (!PyCallable_Check(dispatch)) {
        PyErr_SetString(PyExc_TypeError, "install: dispatch must be callable");
        return NULL;
    }
    if (S.dispatch != NULL) {
        Py_RETURN_FALSE;
    }
    PyObject *names = PySequence_Tuple(events);
    if (names == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_Size(names);
    char **copies = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (copies == NULL) {
        Py_DECREF(names);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GetItem(names, i), NULL);
        copies[i] = name ? strdup(name) : NULL;
        if (copies[i] == NULL) {
            for (Py_ssize_t j = 0; j < i; j++) {
                free(copies[j]);
            }
            free(copies);
            Py_DECREF(names);
            return name ? PyErr_NoMemory() : NULL;
        }
    }
    Py_DECREF(names);
    if (!S.registered) {
        if (PySys_AddAuditHook(audit, NULL) < 0) {
            for (Py_ssize_t i = 0; i < n; i++) {
                free(copies[i]);
            }
            free(copies);
            return NULL;
        }
        S.registered = 1;
    }
    free_events();
    S.events = copies;
    S.n_events = n;
    Py_INCREF(dispatch);
    S.dispatch = dispatch;
    S.interp = PyInterpreterState_Get();
    S.fd = fd;
    S.pid = pid;
    S.active = S.files = 1;
    S.quiet_set = 0;
    free(S.cwd);
    S.cwd = NULL;
    forget_all();
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(configure_doc,
"configure(fd, pid, active, files, quiet)\n\n"
"The recorder's state: its log, this process's id, whether it reports at all and whether it\n"
"reports files, and the thread whose opens are ignored (None: none).");

static PyObject *
configure(PyObject *module, PyObject *args)
{
    (void)module;
    int fd, active, files;
    long pid;
    PyObject *quiet;
    if (!PyArg_ParseTuple(args, "ilppO:configure", &fd, &pid, &active, &files, &quiet)) {
        return NULL;
    }
    unsigned long ident = 0;
    if (quiet != Py_None) {
        ident = PyLong_AsUnsignedLong(quiet);
        if (ident == (unsigned long)-1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    S.fd = fd;
    S.pid = pid;
    S.active = active;
    S.files = files;
    S.quiet_set = quiet != Py_None;
    S.quiet = ident;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(forget_doc,
"forget()\n\nForget which files were reported and the working directory (a new log).");

static PyObject *
forget(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    forget_all();
    free(S.cwd);
    S.cwd = NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(remember_doc,
"remember(key) -> bool\n\n"
"True if ``key`` (a kind's letter and a path, UTF-8 bytes) was not reported yet, and note it:\n"
"the opens the Python recorder handles share this hook's record of what was reported.");

static PyObject *
remember_key(PyObject *module, PyObject *arg)
{
    (void)module;
    char *key;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(arg, &key, &len) < 0) {
        return NULL;
    }
    int fresh = remember(key, (size_t)len);
    if (fresh < 0) {
        return PyErr_NoMemory();
    }
    return PyBool_FromLong(fresh);
}

/* -- stat_many ----------------------------------------------------------------------------- */

typedef struct {
    int error; /* errno, or 0 */
    struct stat st;
} Stat;

typedef struct {
    const char **names;
    Stat *results;
    Py_ssize_t start, stop;
    int dir_fd, flags;
} Batch;

static void *
stat_batch(void *arg)
{
    Batch *batch = arg;
    for (Py_ssize_t i = batch->start; i < batch->stop; i++) {
        if (batch->names[i] != NULL &&
            fstatat(batch->dir_fd, batch->names[i], &batch->results[i].st, batch->flags) != 0) {
            batch->results[i].error = errno;
        }
    }
    return NULL;
}

/* Lookups of different names proceed in parallel in the kernel: a long list is stat'ed by
 * two threads (the caller and one more), a short one by the caller alone. */
static void
stat_all(const char **names, Stat *results, Py_ssize_t n, int dir_fd, int flags)
{
    Batch first = {names, results, 0, n, dir_fd, flags};
    Batch second = {names, results, n, n, dir_fd, flags};
    pthread_t helper;
    int helped = 0;
    if (n >= 512) {
        first.stop = second.start = n / 2;
        helped = pthread_create(&helper, NULL, stat_batch, &second) == 0;
        if (!helped) {
            first.stop = n;
        }
    }
    stat_batch(&first);
    if (helped) {
        pthread_join(helper, NULL);
    }
}

PyDoc_STRVAR(stat_many_doc,
"stat_many(names, dir_fd=-1, follow=True) -> (modes, keys)\n\n"
"Stat each name of the list (str; relative ones to the open directory ``dir_fd``, or to\n"
"the working directory when -1; symlinks followed unless ``follow`` is false). For each:\n"
"its st_mode and ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` as os.stat gives\n"
"them, or 0 and the errno (an int) when it cannot be stat'ed.");

static PyObject *
stat_many(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *keywords[] = {"names", "dir_fd", "follow", NULL};
    PyObject *paths;
    int dir_fd = -1, follow = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|ip:stat_many", keywords, &paths,
                                     &dir_fd, &follow)) {
        return NULL;
    }
    if (!PyList_Check(paths)) {
        PyErr_SetString(PyExc_TypeError, "stat_many: names must be a list of str");
        return NULL;
    }
    Py_ssize_t n = PyList_Size(paths);
    size_t room = (size_t)(n > 0 ? n : 1);
    PyObject **encoded = calloc(room, sizeof(PyObject *));
    const char **names = calloc(room, sizeof(char *));
    Stat *results = calloc(room, sizeof(Stat));
    PyObject *modes = NULL, *keys = NULL, *out = NULL;
    if (encoded == NULL || names == NULL || results == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *path = PyList_GetItem(paths, i);
        if (path == NULL || !PyUnicode_Check(path)) {
            PyErr_SetString(PyExc_TypeError, "stat_many: names must be a list of str");
            goto done;
        }
        /* UTF-8 is how os.stat encodes a name here (the caller checks the filesystem
         * encoding), except for the surrogates that stand for undecodable bytes: those are
         * encoded as os.fsencode does. */
        Py_ssize_t size;
        names[i] = PyUnicode_AsUTF8AndSize(path, &size);
        if (names[i] == NULL) {
            PyErr_Clear();
            encoded[i] = PyUnicode_EncodeFSDefault(path);
            if (encoded[i] == NULL) {
                goto done;
            }
            names[i] = PyBytes_AsString(encoded[i]);
            size = PyBytes_Size(encoded[i]);
            if (names[i] == NULL) {
                goto done;
            }
        }
        if (strlen(names[i]) != (size_t)size) {
            results[i].error = EINVAL; /* an embedded NUL: no such file */
            names[i] = NULL;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    stat_all(names, results, n, dir_fd < 0 ? AT_FDCWD : dir_fd,
             follow ? 0 : AT_SYMLINK_NOFOLLOW);
    Py_END_ALLOW_THREADS
    modes = PyList_New(n);
    keys = PyList_New(n);
    if (modes == NULL || keys == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *mode, *key;
        if (results[i].error) {
            mode = PyLong_FromLong(0);
            key = PyLong_FromLong(results[i].error);
        } else {
            const struct stat *st = &results[i].st;
            mode = PyLong_FromLong((long)st->st_mode);
            key = Py_BuildValue(
                "(KKLLL)", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                (long long)st->st_size,
                (long long)MTIME(st).tv_sec * 1000000000LL + MTIME(st).tv_nsec,
                (long long)CTIME(st).tv_sec * 1000000000LL + CTIME(st).tv_nsec);
        }
        if (mode == NULL || key == NULL) {
            Py_XDECREF(mode);
            Py_XDECREF(key);
            goto done;
        }
        PyList_SetItem(modes, i, mode);
        PyList_SetItem(keys, i, key);
    }
    out = PyTuple_Pack(2, modes, keys);
done:
    Py_XDECREF(modes);
    Py_XDECREF(keys);
    if (encoded != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_XDECREF(encoded[i]);
        }
    }
    free(encoded);
    free(names);
    free(results);
    return out;
}

PyDoc_STRVAR(reported_doc, "reported() -> int\n\nHow many (kind, path) were reported.");

static PyObject *
reported(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyLong_FromSize_t(S.used);
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS, install_doc},
    {"configure", configure, METH_VARARGS, configure_doc},
    {"forget", forget, METH_NOARGS, forget_doc},
    {"remember", remember_key, METH_O, remember_doc},
    {"stat_many", (PyCFunction)(void (*)(void))stat_many, METH_VARARGS | METH_KEYWORDS,
     stat_many_doc},
    {"reported", reported, METH_NOARGS, reported_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_speedups",
    "tracline's speedups: the capture audit hook's common case, stat_many.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&definition);
}
