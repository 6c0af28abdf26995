/*
 * cs_backends.c - the registry of map backends: every map chmstress can run,
 * in the order `chmstress list` shows them and `-m` defaults use.
 *
 * Each backend lives in its own file, src/stress/backends/cs_backend_NAME.c,
 * and defines one `const cs_backend cs_backend_NAME`.  Adding a backend
 * touches that file plus one X(NAME) line in CS_BACKEND_LIST below: the list
 * both declares the objects and fills cs_backends[].
 */
#include <stddef.h>
#include <string.h>

#include "cs.h"

/* The registered backends, in order.  One line per backend. */
#define CS_BACKEND_LIST(X) \
    X(chm)                 \
    X(urcu)                \
    X(cuckoo)              \
    X(locked)              \
    X(null)

#define CS_BACKEND_DECLARE(name) extern const cs_backend cs_backend_##name;
#define CS_BACKEND_ENTRY(name) &cs_backend_##name,

CS_BACKEND_LIST(CS_BACKEND_DECLARE)

/* All registered backends, NULL-terminated (declared in cs.h). */
const cs_backend *const cs_backends[] = {
    CS_BACKEND_LIST(CS_BACKEND_ENTRY)
    NULL,
};

/* The backend called `name` (exact, case-sensitive match), or NULL when
 * there is none (or name is NULL). */
const cs_backend *cs_backend_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; cs_backends[i] != NULL; i++)
        if (strcmp(cs_backends[i]->name, name) == 0)
            return cs_backends[i];
    return NULL;
}
