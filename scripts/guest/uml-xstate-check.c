/*
 * Checks uml-xstate.c the way UML uses it, on any host with AVX: a tracer rewrites a traced child's
 * XMM0 through PTRACE_SETREGSET(NT_X86_XSTATE) with a buffer shorter than the host's XSAVE area
 * (576 bytes: the legacy area and the header), as UML's fixed buffer is shorter than an AMX host's.
 * The host kernel refuses that write (EFAULT, exit 2); through the shim it must succeed, and the
 * child must see the new XMM0 while the YMM1 it loaded (state past the short buffer) is kept.
 * Prints "ok" and exits 0, or says what differed.
 */
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SHORT = 576, XMM0_AT = 160, XSTATE_BV_AT = 512 };

static int child(void) {
  unsigned char ymm1[32], seen1[32], seen0[16], want0[16];
  memset(ymm1, 0xab, sizeof ymm1);
  memset(want0, 0x5a, sizeof want0);
  ptrace(PTRACE_TRACEME, 0, 0, 0);
  /* Load YMM1, stop with raw system calls (no library code between), then store YMM1 and XMM0. */
  __asm__ volatile(
      "vmovdqu %[in], %%ymm1\n\t"
      "mov $39, %%eax\n\tsyscall\n\t"                                           /* getpid */
      "mov %%eax, %%edi\n\tmov $19, %%esi\n\tmov $62, %%eax\n\tsyscall\n\t"     /* kill(pid, SIGSTOP) */
      "vmovdqu %%ymm1, %[out1]\n\tvmovdqu %%xmm0, %[out0]\n\tvzeroupper"
      : [out1] "=m"(seen1), [out0] "=m"(seen0)
      : [in] "m"(ymm1)
      : "rax", "rdi", "rsi", "rcx", "r11", "memory", "xmm0", "xmm1");
  if (memcmp(seen1, ymm1, sizeof ymm1) != 0) return 10; /* state past the short buffer was lost */
  if (memcmp(seen0, want0, sizeof want0) != 0) return 11; /* the write did not arrive */
  return 0;
}

int main(void) {
  if (!__builtin_cpu_supports("avx")) { puts("skip: no AVX"); return 77; }
  pid_t pid = fork();
  if (pid == 0) _exit(child());
  int status;
  waitpid(pid, &status, 0);
  if (!WIFSTOPPED(status)) { puts("child did not stop"); return 1; }
  unsigned char buf[SHORT];
  struct iovec iov = {buf, sizeof buf};
  if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0) { printf("get: %s\n", strerror(errno)); kill(pid, SIGKILL); return 1; }
  memset(buf + XMM0_AT, 0x5a, 16);
  buf[XSTATE_BV_AT] |= 2; /* XMM state present */
  iov.iov_len = sizeof buf;
  if (ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0) {
    printf("set: %s\n", errno == EFAULT ? "EFAULT" : strerror(errno));
    kill(pid, SIGKILL);
    return 2;
  }
  ptrace(PTRACE_CONT, pid, 0, 0);
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 10 ? "YMM1 lost" : WIFEXITED(status) && WEXITSTATUS(status) == 11 ? "XMM0 not written" : "died");
    return 3;
  }
  puts("ok");
  return 0;
}
