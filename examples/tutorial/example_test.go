package tutorial_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/containertest/containertest/examples/tutorial"
)

// A developer who wants to look at the stack in a browser while a test holds it
// keeps the file's host port: http://localhost:8080 (on 127.0.0.1 only).
func Example_fixedPorts() {
	var t testing.TB // the test's *testing.T

	stack := tutorial.Project().FixedPorts().Up(t)
	resp, err := http.Get("http://localhost:8080/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, stack.Service("web").MappedPort(tutorial.WebPort)) // 200 OK 8080
}
