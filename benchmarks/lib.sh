# Shell helpers shared by the benchmark scripts (source it): loopback ports, waiting for a server, CPU of a process.

# A port nothing listens on now, on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The process's CPU so far (utime+stime), in clock ticks (getconf CLK_TCK a second).
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# wait_port PORT PID: until 127.0.0.1:PORT accepts (true), or PID died or 10 s passed (false).
wait_port() {
  for _ in $(seq 1 2000); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}
