// The kernel's floor for a WebSocket fan-out on this box, with a live reader: one process writes one small frame
// to each of N loopback TCP sockets per round, while another process, blocked in epoll like a real client
// (the load kit's wsload), reads them. Prints the writer's CPU per write (the floor of a server's CPU per
// delivery: the kernel charges the loopback delivery and the reader's wake-up to the writer) and the time until
// the reader had all N frames of a round (the floor of the fan-out's "all received" latency on these cores).
// With W writer threads (the server has one event loop per core), each writes its share of the sockets.
//
//   cc -O2 -pthread -o /tmp/fanout-floor benchmarks/fanout-floor.c && /tmp/fanout-floor 10000 20 2
//
// Needs N + a few open files per process (the writer holds the accepted sockets, the reader the others).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { FRAME = 48 };  // about the size of a small Phoenix broadcast frame

static double cpu_seconds(int who) {
    struct rusage usage;
    getrusage(who, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// One writer thread's share of a round: sockets first, first + writers, ...
struct share { int *sockets, n, first, writers; };

static void *write_share(void *argument) {
    struct share *share = argument;
    char frame[FRAME];
    memset(frame, 'x', sizeof frame);
    frame[0] = (char)0x81;  // a text frame
    frame[1] = FRAME - 2;
    for (int i = share->first; i < share->n; i += share->writers) {
        if (write(share->sockets[i], frame, sizeof frame) != sizeof frame) { perror("write"); exit(1); }
    }
    return NULL;
}

// The reader: connects N sockets, then reads every round's frames, writing one byte to `done` per round.
static int reader(struct sockaddr_in address, int n, int rounds, int done) {
    int epoll = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) { perror("connect"); return 1; }
        struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    }
    struct epoll_event events[256];
    char buffer[4096];
    for (int round = 0; round < rounds; round++) {
        long wanted = (long)n * FRAME, got = 0;
        while (got < wanted) {
            int ready = epoll_wait(epoll, events, 256, 5000);
            if (ready <= 0) { fprintf(stderr, "reader: round %d stalled\n", round); return 1; }
            for (int i = 0; i < ready; i++) {
                ssize_t r = read(events[i].data.fd, buffer, sizeof buffer);
                if (r > 0) got += r;
            }
        }
        if (write(done, "r", 1) != 1) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5000, rounds = argc > 2 ? atoi(argv[2]) : 20;
    int writers = argc > 3 ? atoi(argv[3]) : 1;
    if (writers < 1 || writers > 64) writers = 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    bind(listener, (struct sockaddr *)&address, sizeof address);
    listen(listener, 4096);
    getsockname(listener, (struct sockaddr *)&address, &length);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) { perror("pipe"); return 1; }

    pid_t child = fork();
    if (child == 0) {
        close(listener);
        close(pipe_fds[0]);
        return reader(address, n, rounds, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    int *sockets = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        sockets[i] = accept(listener, NULL, NULL);
        if (sockets[i] < 0) { perror("accept"); return 1; }
        int one = 1;
        setsockopt(sockets[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    double *all_received = malloc(sizeof(double) * rounds), write_cpu = 0;
    struct share shares[64];
    pthread_t threads[64];
    for (int round = 0; round < rounds; round++) {
        double start = now_seconds(), cpu0 = cpu_seconds(RUSAGE_SELF);
        for (int t = 0; t < writers; t++) {
            shares[t] = (struct share){.sockets = sockets, .n = n, .first = t, .writers = writers};
            pthread_create(&threads[t], NULL, write_share, &shares[t]);
        }
        for (int t = 0; t < writers; t++) pthread_join(threads[t], NULL);
        write_cpu += cpu_seconds(RUSAGE_SELF) - cpu0;
        char byte;
        if (read(pipe_fds[0], &byte, 1) != 1) { fprintf(stderr, "reader failed\n"); return 1; }
        all_received[round] = (now_seconds() - start) * 1000;
    }
    int status;
    waitpid(child, &status, 0);
    double reader_cpu = cpu_seconds(RUSAGE_CHILDREN);
    qsort(all_received, rounds, sizeof(double), compare_doubles);
    printf("RESULT fanout-floor subs=%d rounds=%d writers=%d writer_us_per_write=%.2f reader_us_per_read=%.2f "
           "all_received_ms p50=%.1f max=%.1f\n",
           n, rounds, writers, write_cpu * 1e6 / ((double)n * rounds), reader_cpu * 1e6 / ((double)n * rounds),
           all_received[rounds / 2], all_received[rounds - 1]);
    return 0;
}
