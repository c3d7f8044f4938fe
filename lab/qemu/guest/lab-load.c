/*
 * Guest-side helper of the QEMU lab, built static on the host (setup.sh) and shipped in the initramfs.
 *
 *   lab-load listen PORT            accept TCP connections and close them: a completed handshake is what
 *                                   the TCP prober counts as a reply, so the listener must never stop
 *                                   listening (busybox `nc -l` in a loop does, between connections).
 *   lab-load game WS_MIB FPS        a game-shaped loop: every frame rewrites state spread over the whole
 *                                   working set (one word per 4 KiB page is enough to dirty the page),
 *                                   FPS frames per second; 0 = as fast as the vCPU allows.
 *   lab-load video KIB_S RING_MIB FPS  a steady stream: decoded frames written one after another into a
 *                                   ring buffer at a constant byte rate, as a player does.
 *
 * Buffers are filled with non-zero pseudo-random data first: QEMU sends zero pages as a marker only,
 * so a workload writing zeros would not load the migration at all.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng | 1;
}

static unsigned char *filled(size_t bytes) {
  unsigned char *buf = malloc(bytes);
  if (!buf) {
    perror("lab-load: malloc");
    exit(1);
  }
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    uint64_t v = next_random();
    memcpy(buf + i, &v, 8);
  }
  return buf;
}

static void sleep_until(struct timespec *deadline) {
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL) != 0) {
  }
}

static void advance(struct timespec *t, long ns) {
  t->tv_nsec += ns;
  while (t->tv_nsec >= 1000000000L) {
    t->tv_nsec -= 1000000000L;
    t->tv_sec++;
  }
}

static int listen_forever(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4096) < 0) {
    perror("lab-load: listen");
    return 1;
  }
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c >= 0) close(c);
  }
}

static _Noreturn void game(long ws_mib, long fps) {
  size_t bytes = (size_t)ws_mib << 20;
  unsigned char *buf = filled(bytes);
  size_t pages = bytes / PAGE;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (uint64_t frame = 1;; frame++) {
    size_t offset = (frame * 8) % PAGE;
    for (size_t p = 0; p < pages; p++) {
      uint64_t v = next_random();
      memcpy(buf + p * PAGE + offset, &v, 8);
    }
    if (fps > 0) {
      advance(&next, 1000000000L / fps);
      sleep_until(&next);
    }
  }
}

static _Noreturn void video(long kib_s, long ring_mib, long fps) {
  size_t ring = (size_t)ring_mib << 20;
  size_t frame_bytes = ((size_t)kib_s << 10) / (size_t)fps;
  unsigned char *src = filled(frame_bytes + PAGE);
  unsigned char *buf = filled(ring);
  size_t at = 0;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (uint64_t frame = 1;; frame++) {
    size_t left = frame_bytes;
    size_t shift = (frame * 8) % PAGE;
    while (left > 0) {
      size_t n = left < ring - at ? left : ring - at;
      memcpy(buf + at, src + shift, n);
      at = (at + n) % ring;
      left -= n;
    }
    advance(&next, 1000000000L / fps);
    sleep_until(&next);
  }
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "listen") == 0) return listen_forever(atoi(argv[2]));
  if (argc == 4 && strcmp(argv[1], "game") == 0) game(atol(argv[2]), atol(argv[3]));
  if (argc == 5 && strcmp(argv[1], "video") == 0 && atol(argv[4]) > 0)
    video(atol(argv[2]), atol(argv[3]), atol(argv[4]));
  fprintf(stderr, "usage: lab-load listen PORT | game WS_MIB FPS | video KIB_S RING_MIB FPS\n");
  return 2;
}
