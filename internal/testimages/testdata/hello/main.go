// Command hello is a test program for testimages.GoProgram: it prints a greeting, the
// platform it was built for and its arguments, and exits with the code in $EXIT_CODE.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

func main() {
	fmt.Printf("hello from %s/%s\n", runtime.GOOS, runtime.GOARCH)
	fmt.Printf("args: %s\n", strings.Join(os.Args[1:], " "))
	code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
	os.Exit(code)
}
