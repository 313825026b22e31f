// Command latency becomes ready after a random delay and reports, from inside the
// container, the moment it did, so that a benchmark can measure how late a wait
// strategy notices. The container and the host share the kernel's clock.
//
//	latency port   listen on :8080, then print "listening since <unix ns>"
//	latency log    print "ready at <unix ns>"
//
// The delay is random between MIN_DELAY_MS and MAX_DELAY_MS (default 200 and 500), so
// that readiness falls at a random phase of any probing. Each moment is taken before
// the listen or the write, so a measured latency is never too small.
package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"
)

func envMS(key string, def int) time.Duration {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return time.Duration(n) * time.Millisecond
	}
	return time.Duration(def) * time.Millisecond
}

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "port" && os.Args[1] != "log") {
		fmt.Fprintln(os.Stderr, "usage: latency port|log")
		os.Exit(2)
	}
	lo, hi := envMS("MIN_DELAY_MS", 200), envMS("MAX_DELAY_MS", 500)
	delay := lo
	if hi > lo {
		delay += rand.N(hi - lo)
	}
	time.Sleep(delay)

	if os.Args[1] == "log" {
		at := time.Now().UnixNano()
		fmt.Printf("ready at %d\n", at)
		select {}
	}
	at := time.Now().UnixNano()
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening since %d\n", at)
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		// Hold connections open and silent, as a server waiting for a request does.
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}
