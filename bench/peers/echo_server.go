// echo_server.go — the Go peer of bench/bench_echo.c: Go's idiomatic
// goroutine-per-connection echo server, the figure the issue compares
// corio against.
//
// It listens on 127.0.0.1 (a free port), prints the port on its own line
// on stdout, and then echoes every byte it receives on every connection
// until it is killed. bench_echo builds it with `go build` when `go` is
// installed, pins it to the server core and sets GOMAXPROCS=1, so that Go's
// scheduler gets exactly one core, as corio's loop does.
//
// Nothing here is tuned: net.Conn Read/Write on a 4 KiB buffer is what a
// Go programmer writes, and the net package's netpoller (epoll underneath,
// TCP_NODELAY on by default) does the rest.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a reset: the client is gone
			return
		}
	}
}

func main() {
	// Backlog comes from net.core.somaxconn: Go asks for the maximum.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_server.go:", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, ln.Addr().(*net.TCPAddr).Port)
	out.Flush()
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and friends: back off and try again, as
			// net/http's server does. The bench kills us at the end.
			fmt.Fprintln(os.Stderr, "echo_server.go: accept:", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
