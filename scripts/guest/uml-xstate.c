/*
 * Preloaded into linux.uml by scripts/guest/uml.sh. UML saves and restores its processes' FPU state
 * with PTRACE_GETREGSET/SETREGSET(NT_X86_XSTATE) on a buffer of a size fixed when it was built
 * (2696 bytes in Debian's UML 6.1: up to AVX-512 and PKRU), and the host kernel accepts a write only
 * if it covers the host's whole XSAVE area (11008 bytes on Intel CPUs with AMX, whose tiles lie past
 * 2696): there UML's first write fails with EFAULT and UML panics before init runs. This
 * shim turns each short write into a whole one: it reads the target's whole area, lays UML's bytes
 * over its start and writes that, so components past UML's buffer (the AMX tiles, which a UML
 * process cannot enable) keep what the host has. Where UML's buffer is large enough, every call goes
 * through unchanged.
 *
 * When PATCHCORD_XSTATE_MARK names a file, the shim creates it at its first rewrite, so that the
 * guest knows to check its vector registers (fpu-check.c) before trusting this UML with a command.
 *
 * For tests on hosts without AMX: PATCHCORD_XSTATE_SIMULATE=N makes the host kernel behave as one
 * whose XSAVE area is N bytes (short writes fail with EFAULT, reads report N bytes), and
 * PATCHCORD_XSTATE_FIX=0 turns the fix off, which reproduces the AMX crash; PATCHCORD_XSTATE_FIX=lossy
 * keeps only the legacy area and header of UML's bytes, a faulty fix that fpu-check must catch.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

typedef long (*ptrace_fn)(int, pid_t, void *, void *);
static ptrace_fn next_ptrace;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static size_t simulated;
static int fix = 1;             /* 0: off; 2: lossy (tests) */
static size_t whole;            /* the host's XSAVE area, learned at the first write */
static unsigned char *scratch;  /* one buffer of that size: UML writes from one thread */
static const char *mark;       /* PATCHCORD_XSTATE_MARK, created at the first rewrite */

static void setup(void) {
  const char *s = getenv("PATCHCORD_XSTATE_SIMULATE"), *f = getenv("PATCHCORD_XSTATE_FIX");
  next_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  if (s) simulated = strtoul(s, NULL, 10);
  if (f && strcmp(f, "0") == 0) fix = 0;
  if (f && strcmp(f, "lossy") == 0) fix = 2;
  mark = getenv("PATCHCORD_XSTATE_MARK");
}

/* The host kernel's NT_X86_XSTATE regset, or a stricter one that wants `simulated` bytes. */
static long xstate(int request, pid_t pid, struct iovec *iov) {
  void *note = (void *)(long)NT_X86_XSTATE;
  if (simulated && request == PTRACE_SETREGSET && iov->iov_len < simulated) {
    errno = EFAULT;
    return -1;
  }
  size_t asked = iov->iov_len;
  long r = next_ptrace(request, pid, note, iov);
  if (r == 0 && simulated && request == PTRACE_GETREGSET) {
    size_t len = asked < simulated ? asked : simulated; /* what the larger area would fill */
    if (len > iov->iov_len) memset((unsigned char *)iov->iov_base + iov->iov_len, 0, len - iov->iov_len);
    iov->iov_len = len;
  }
  return r;
}

static size_t whole_size(pid_t pid) {
  if (!whole) {
    size_t room = simulated > 65536 ? simulated : 65536;
    unsigned char *probe = calloc(1, room);
    struct iovec iov = {probe, room};
    if (probe && xstate(PTRACE_GETREGSET, pid, &iov) == 0) {
      whole = iov.iov_len; /* the whole area: `room` covers any real or simulated one */
      scratch = calloc(1, whole);
      if (!scratch) whole = 0;
    }
    free(probe);
  }
  return whole;
}

long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);
  pthread_once(&once, setup);
  if ((long)addr != NT_X86_XSTATE || (request != PTRACE_SETREGSET && request != PTRACE_GETREGSET))
    return next_ptrace(request, pid, addr, data);
  struct iovec *iov = data;
  if (request == PTRACE_SETREGSET && fix && whole_size(pid) > iov->iov_len) {
    struct iovec all = {scratch, whole};
    if (mark) {
      int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) close(fd);
      mark = NULL;
    }
    if (xstate(PTRACE_GETREGSET, pid, &all) < 0) return -1;
    memcpy(scratch, iov->iov_base, fix == 2 && iov->iov_len > 576 ? 576 : iov->iov_len);
    all.iov_len = whole;
    return xstate(PTRACE_SETREGSET, pid, &all);
  }
  return xstate(request, pid, iov);
}
