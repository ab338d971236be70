/*
 * patchcord_native: the few system calls the shim (shim/main.ts, run by QuickJS) needs and QuickJS's
 * std/os modules lack. Everything else, the protocol included, is TypeScript.
 *
 *   connectUnix(path, timeoutMs) -> fd | -errno   a connected, non-blocking, close-on-exec unix
 *                                                  stream socket, never fd 0-2
 *   poll(fd, events, timeoutMs)  -> revents | 0 (timed out) | -errno
 *   send(fd, buffer, offset, length) -> bytes | -errno   MSG_NOSIGNAL: a closed peer is EPIPE, not a
 *                                                  SIGPIPE that would kill the shim without a word
 *   execve(path, argv[], env[] | null) -> -errno   returns only on failure; null keeps environ as is
 *   monotonicMs() -> milliseconds                  CLOCK_MONOTONIC, for timeouts a clock change cannot move
 *   EAGAIN, EINTR, POLLIN, POLLOUT                 constants
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "quickjs.h"

extern char **environ;

#define countof(a) (sizeof(a) / sizeof((a)[0]))

static JSValue js_connect_unix(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  int32_t timeout_ms;
  if (JS_ToInt32(ctx, &timeout_ms, argv[1])) return JS_EXCEPTION;
  const char *path = JS_ToCString(ctx, argv[0]);
  if (!path) return JS_EXCEPTION;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof(addr.sun_path)) {
    JS_FreeCString(ctx, path);
    return JS_NewInt32(ctx, len == 0 ? -ENOENT : -ENAMETOOLONG);
  }
  memcpy(addr.sun_path, path, len);
  JS_FreeCString(ctx, path);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return JS_NewInt32(ctx, -errno);
  if (fd <= 2) {
    /* stdin, stdout or stderr was closed: keep them closed rather than make the socket one of them */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    if (high < 0) return JS_NewInt32(ctx, -err);
    fd = high;
  }
  /* A unix connect blocks while the listener's backlog is full; SO_SNDTIMEO bounds that wait. */
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    int err = errno;
    close(fd);
    return JS_NewInt32(ctx, -err);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    close(fd);
    return JS_NewInt32(ctx, -err);
  }
  return JS_NewInt32(ctx, fd);
}

static JSValue js_poll(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  int32_t fd, events, timeout_ms;
  if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &events, argv[1]) || JS_ToInt32(ctx, &timeout_ms, argv[2])) return JS_EXCEPTION;
  struct pollfd p = {fd, (short)events, 0};
  int r = poll(&p, 1, timeout_ms);
  return JS_NewInt32(ctx, r < 0 ? -errno : r == 0 ? 0 : p.revents);
}

static JSValue js_send(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  int32_t fd;
  uint64_t pos, len;
  size_t size;
  if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToIndex(ctx, &pos, argv[2]) || JS_ToIndex(ctx, &len, argv[3])) return JS_EXCEPTION;
  uint8_t *buf = JS_GetArrayBuffer(ctx, &size, argv[1]);
  if (!buf) return JS_EXCEPTION;
  if (pos + len > size) return JS_ThrowRangeError(ctx, "send: array buffer overflow");
  ssize_t n = send(fd, buf + pos, len, MSG_NOSIGNAL);
  return JS_NewInt64(ctx, n < 0 ? -errno : n);
}

static void free_cstrings(JSContext *ctx, const char **a, uint32_t n) {
  if (!a) return;
  for (uint32_t i = 0; i < n; i++) JS_FreeCString(ctx, a[i]);
  js_free(ctx, a);
}

/* A JS array of strings as a NULL-terminated char* array of n strings; NULL with an exception pending. */
static const char **to_cstrings(JSContext *ctx, JSValueConst array, uint32_t *n) {
  JSValue lenv = JS_GetPropertyStr(ctx, array, "length");
  int bad = JS_ToUint32(ctx, n, lenv);
  JS_FreeValue(ctx, lenv);
  if (bad) return NULL;
  const char **out = js_mallocz(ctx, sizeof(char *) * ((size_t)*n + 1));
  if (!out) return NULL;
  for (uint32_t i = 0; i < *n; i++) {
    JSValue v = JS_GetPropertyUint32(ctx, array, i);
    out[i] = JS_ToCString(ctx, v);
    JS_FreeValue(ctx, v);
    if (!out[i]) {
      free_cstrings(ctx, out, i);
      return NULL;
    }
  }
  return out;
}

static JSValue js_execve(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  uint32_t nargs = 0, nenv = 0;
  const char **args = NULL, **env = NULL;
  const char *path = JS_ToCString(ctx, argv[0]);
  if (!path) return JS_EXCEPTION;
  args = to_cstrings(ctx, argv[1], &nargs);
  if (!args || (!JS_IsNull(argv[2]) && !(env = to_cstrings(ctx, argv[2], &nenv)))) {
    free_cstrings(ctx, args, nargs);
    JS_FreeCString(ctx, path);
    return JS_EXCEPTION;
  }
  execve(path, (char *const *)args, env ? (char *const *)env : environ);
  int err = errno;
  free_cstrings(ctx, args, nargs);
  free_cstrings(ctx, env, nenv);
  JS_FreeCString(ctx, path);
  return JS_NewInt32(ctx, -err);
}

static JSValue js_monotonic_ms(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return JS_NewFloat64(ctx, (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6);
}

static const JSCFunctionListEntry native_funcs[] = {
    JS_CFUNC_DEF("connectUnix", 2, js_connect_unix),
    JS_CFUNC_DEF("poll", 3, js_poll),
    JS_CFUNC_DEF("send", 4, js_send),
    JS_CFUNC_DEF("execve", 3, js_execve),
    JS_CFUNC_DEF("monotonicMs", 0, js_monotonic_ms),
    JS_PROP_INT32_DEF("EAGAIN", EAGAIN, JS_PROP_CONFIGURABLE),
    JS_PROP_INT32_DEF("EINTR", EINTR, JS_PROP_CONFIGURABLE),
    JS_PROP_INT32_DEF("POLLIN", POLLIN, JS_PROP_CONFIGURABLE),
    JS_PROP_INT32_DEF("POLLOUT", POLLOUT, JS_PROP_CONFIGURABLE),
};

static int native_init(JSContext *ctx, JSModuleDef *m) {
  return JS_SetModuleExportList(ctx, m, native_funcs, countof(native_funcs));
}

JSModuleDef *js_init_module_patchcord_native(JSContext *ctx, const char *name) {
  JSModuleDef *m = JS_NewCModule(ctx, name, native_init);
  if (!m) return NULL;
  JS_AddModuleExportList(ctx, m, native_funcs, countof(native_funcs));
  return m;
}
