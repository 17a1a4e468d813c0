// chan_peer.go — the Go peer of bench/bench_chan.c: the same two channel
// figures with goroutines, run with GOMAXPROCS=2 by bench_chan.
//
//	chan_peer pingpong N   two goroutines, two unbuffered channels, N round
//	                       trips; prints ns per hand-off (two per round trip)
//	chan_peer stream N     one producer, one consumer, chan int of 64, N
//	                       items; prints items per second
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func pingpong(n int) {
	a, b := make(chan int), make(chan int)
	go func() {
		for v := range a {
			b <- v
		}
		close(b)
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		a <- i
		if <-b != i {
			panic("pingpong")
		}
	}
	el := time.Since(t0)
	close(a)
	fmt.Printf("%.1f\n", float64(el.Nanoseconds())/float64(2*n))
}

func stream(n int) {
	c := make(chan int, 64)
	go func() {
		for i := 0; i < n; i++ {
			c <- i
		}
		close(c)
	}()
	t0 := time.Now()
	sum := 0
	for v := range c {
		sum += v
	}
	el := time.Since(t0)
	if sum != n*(n-1)/2 {
		panic("stream")
	}
	fmt.Printf("%.0f\n", float64(n)/el.Seconds())
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: chan_peer pingpong|stream N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "bad N")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pingpong":
		pingpong(n)
	case "stream":
		stream(n)
	default:
		os.Exit(2)
	}
}
