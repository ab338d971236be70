/*
 * patchcord-syscall.node: libc's syscall() for patchcord's compiled binary, as a Node-API addon.
 *
 * shared/sys/syscalls.ts loads it from beside the executable (scripts/build-native.mjs builds it
 * there). It does what Bun's FFI does for us, at a fraction of the start-up cost: bun:ffi compiles
 * a trampoline per symbol with TinyCC at load time (about 5 ms per process on the development VM,
 * with the JIT off), while dlopen'ing this file takes about 0.4 ms. Without the file, or when it
 * does not load, syscalls.ts falls back to bun:ffi.
 *
 * exports.syscall(nr, a1, ..., a6): each argument is a number (an integer: an fd, flags, a length)
 * or a typed array or DataView (passed as the address of its first byte; the caller keeps it alive,
 * as it is an argument of this very call). Returns the system call's result, or -errno when it
 * failed: errno is read here, right after the call, before any JavaScript can run.
 * exports.abi: the version of that contract, checked by the loader.
 *
 * Only Node-API version 1 functions are used, declared below from the stable ABI (js_native_api.h)
 * so that building needs no headers beyond libc's. The runtime (Bun, or Node) provides them when it
 * loads the addon, so they stay undefined at link time.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#define ABI 1

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok is 0 */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
typedef enum {
  napi_undefined,
  napi_null,
  napi_boolean,
  napi_number,
  napi_string,
  napi_symbol,
  napi_object,
  napi_function,
  napi_external,
  napi_bigint,
} napi_valuetype;
typedef int napi_typedarray_type;

extern napi_status napi_get_cb_info(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *this_arg, void **data);
extern napi_status napi_typeof(napi_env env, napi_value value, napi_valuetype *result);
extern napi_status napi_get_value_int64(napi_env env, napi_value value, int64_t *result);
extern napi_status napi_is_typedarray(napi_env env, napi_value value, bool *result);
extern napi_status napi_get_typedarray_info(napi_env env, napi_value typedarray, napi_typedarray_type *type, size_t *length, void **data, napi_value *arraybuffer, size_t *byte_offset);
extern napi_status napi_is_dataview(napi_env env, napi_value value, bool *result);
extern napi_status napi_get_dataview_info(napi_env env, napi_value dataview, size_t *bytelength, void **data, napi_value *arraybuffer, size_t *byte_offset);
extern napi_status napi_create_int64(napi_env env, int64_t value, napi_value *result);
extern napi_status napi_create_uint32(napi_env env, uint32_t value, napi_value *result);
extern napi_status napi_create_function(napi_env env, const char *utf8name, size_t length, napi_callback cb, void *data, napi_value *result);
extern napi_status napi_set_named_property(napi_env env, napi_value object, const char *utf8name, napi_value value);
extern napi_status napi_throw_type_error(napi_env env, const char *code, const char *msg);

#define MAX_ARGS 7 /* the number and six arguments */

/* One argument as the machine word the kernel gets; false (with a TypeError thrown) if it is neither. */
static bool word(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != 0) return false;
  if (t == napi_number) return napi_get_value_int64(env, v, out) == 0;
  bool is = false;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is) == 0 && is) {
    /* data points at the view's first element (its byte offset already applied) */
    if (napi_get_typedarray_info(env, v, NULL, NULL, &data, NULL, NULL) != 0) return false;
  } else if (napi_is_dataview(env, v, &is) == 0 && is) {
    if (napi_get_dataview_info(env, v, NULL, &data, NULL, NULL) != 0) return false;
  } else {
    napi_throw_type_error(env, NULL, "syscall: each argument must be a number, a typed array or a DataView");
    return false;
  }
  *out = (int64_t)(intptr_t)data;
  return true;
}

static napi_value js_syscall(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  int64_t a[MAX_ARGS] = {0};
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "syscall: needs the system call's number");
    return NULL;
  }
  if (argc > MAX_ARGS) argc = MAX_ARGS;
  for (size_t i = 0; i < argc; i++)
    if (!word(env, argv[i], &a[i])) return NULL;
  long r = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  int64_t result = r == -1 ? -(int64_t)errno : (int64_t)r;
  napi_value out;
  if (napi_create_int64(env, result, &out) != 0) return NULL;
  return out;
}

/* What the file is, in its bytes: the node agent's uninstall recognises the addon by it. */
__attribute__((used)) static const char MARKER[] = "patchcord_syscall: system calls for patchcord's binary";

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn, abi;
  if (napi_create_function(env, "syscall", 7, js_syscall, NULL, &fn) != 0) return NULL;
  if (napi_set_named_property(env, exports, "syscall", fn) != 0) return NULL;
  if (napi_create_uint32(env, ABI, &abi) != 0) return NULL;
  if (napi_set_named_property(env, exports, "abi", abi) != 0) return NULL;
  return exports;
}

/* The Node-API version the addon needs (1); runtimes that look for this take it as given. */
__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) { return 1; }
