/* The directory walk's inner loop: list one folder and stat each of its entries.
 *
 * A plain shared library (no Python API, so one build serves every Python), loaded with
 * ctypes by tracline/hashing/_folder.py (not named after it: Python would take a _folder.so
 * for an extension module), which holds the same loop in Python for when this library is
 * not built: both produce exactly the same bytes. Re-digesting an unchanged directory from
 * the stat cache is this loop and little else (see benchmarks/hashing.py).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* Appends len bytes to out (capacity cap) at *used when they fit; *used grows regardless,
 * so that a caller whose buffer was too small learns the size it needs. */
static void put(char *out, size_t cap, size_t *used, const void *data, size_t len) {
    if (*used + len <= cap)
        memcpy(out + *used, data, len);
    *used += len;
}

/* A timestamp in ns as Python's st_*_ns has it; 0 if it does not fit in 64 bits. */
static int to_ns(struct timespec t, int64_t *ns) {
    return !__builtin_mul_overflow((int64_t)t.tv_sec, (int64_t)1000000000, ns) &&
           !__builtin_add_overflow(*ns, (int64_t)t.tv_nsec, ns);
}

/* Lists the folder open as fd and stats each entry (but "." and "..") relative to it,
 * symlinks not followed, in the order readdir gives.
 *
 * A regular file goes to names (its name and a NUL) and to idents (its device, inode and
 * size as uint64, its mtime and ctime in ns as int64, native byte order). Every other entry
 * goes to others (its name and a NUL): folders, symlinks, special files, and entries whose
 * stat failed or whose timestamps do not fit; the caller looks at those again.
 *
 * sizes[0..2] receive the bytes of names, idents and others. Returns 0; -ENOBUFS when a
 * buffer was too small (sizes then hold what was needed at the time: call again with larger
 * buffers); -errno when the folder cannot be listed. fd stays open, its offset is not kept.
 */
EXPORT int tracline_list_folder(int fd, char *names, size_t names_cap, char *idents,
                                size_t idents_cap, char *others, size_t others_cap,
                                size_t *sizes) {
    int own = dup(fd);
    if (own < 0)
        return -errno;
    DIR *dir = fdopendir(own);
    if (dir == NULL) {
        int e = errno;
        close(own);
        return -e;
    }
    rewinddir(dir);
    size_t used[3] = {0, 0, 0};
    for (;;) {
        errno = 0;
        struct dirent *entry = readdir(dir);
        if (entry == NULL) {
            if (errno != 0) {
                int e = errno;
                closedir(dir);
                return -e;
            }
            break;
        }
        const char *name = entry->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        size_t len = strlen(name) + 1;
        struct stat st;
        int64_t row[5];
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            to_ns(st.st_mtim, &row[3]) && to_ns(st.st_ctim, &row[4])) {
            uint64_t head[3] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size};
            memcpy(row, head, sizeof head);
            put(names, names_cap, &used[0], name, len);
            put(idents, idents_cap, &used[1], row, sizeof row);
        } else {
            put(others, others_cap, &used[2], name, len);
        }
    }
    closedir(dir);
    memcpy(sizes, used, sizeof used);
    return used[0] > names_cap || used[1] > idents_cap || used[2] > others_cap ? -ENOBUFS : 0;
}
