package compose_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/wait"
)

// A test starts the services of a Compose file, waits until the web service answers,
// and talks to it through its published port.
func ExampleProject_Up() {
	var t testing.TB // the test's *testing.T

	stack := compose.File("testdata/compose.yaml").
		Env("TAG", "test"). // ${TAG} in the file
		WaitFor("web", wait.ForHTTP("/health").Port("80")).
		With("web", func(s containers.Spec) containers.Spec { return s.LogTo(t.Output()) }).
		Up(t) // removed when the test ends

	resp, err := http.Get(stack.Service("web").URL("http", "80") + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}
