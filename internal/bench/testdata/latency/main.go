// Command latency is the process the wait-latency benchmark starts. It sleeps a random
// 200–500 ms, then becomes ready in one of two ways and prints the moment it did as Unix
// nanoseconds, so that the benchmark can take readiness from the process itself:
//
//	latency port   listens on :8080, then prints "listening since <ns>"
//	latency log    prints "ready at <ns>"
//
// Either way it then keeps running (accepting and holding connections in port mode)
// until it is killed.
package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: latency port|log")
		os.Exit(2)
	}
	time.Sleep(200*time.Millisecond + rand.N(300*time.Millisecond))
	switch os.Args[1] {
	case "port":
		ln, err := net.Listen("tcp", ":8080")
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(1)
		}
		fmt.Printf("listening since %d\n", time.Now().UnixNano())
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, "accept:", err)
				os.Exit(1)
			}
			// Hold the connection open and silent until the client closes it: a real
			// server, not the engine's proxy closing it at once.
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	case "log":
		fmt.Printf("ready at %d\n", time.Now().UnixNano())
		for {
			time.Sleep(time.Hour)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: latency port|log")
		os.Exit(2)
	}
}
