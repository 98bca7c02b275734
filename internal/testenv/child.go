package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// startTimeout bounds how long a child server may take to print its first
// line. It guards against a hung build or server; it is not a measurement.
const startTimeout = 2 * time.Minute

// stopTimeout bounds how long a child may take to exit after its standard
// input closes before it is killed.
const stopTimeout = 30 * time.Second

// children holds the servers started by this test binary, stopped by Cleanup.
var children struct {
	mu    sync.Mutex
	procs []*child
}

// child is a server process that prints "KEY=value" as its first line and
// runs until its standard input closes.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *lockedBuffer
	waited chan struct{}
}

// Cleanup stops every server that this package started in this test binary
// and waits for them to exit. It is safe to call more than once and when no
// server was started.
func Cleanup() {
	children.mu.Lock()
	procs := children.procs
	children.procs = nil
	children.mu.Unlock()
	for _, c := range procs {
		c.stop()
	}
}

// Run runs the tests of m, then Cleanup, and returns m.Run's exit code.
func Run(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Main runs the tests of m, stops the servers this package started, then,
// if the tests passed, fails the binary if any goroutine outlived them
// (goleak.Find with opts). It exits with the resulting code. Call it from
// TestMain.
func Main(m *testing.M, opts ...goleak.Option) {
	code := Run(m)
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startChild starts bin with args, reads its first line of standard output
// and returns the value after "key=". The child's standard error is kept
// for error messages.
func startChild(name, bin string, args []string, key string) (string, error) {
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, stderr: &lockedBuffer{}, waited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	line, err := firstLine(stdout)
	if err == nil && !strings.HasPrefix(line, key+"=") {
		err = fmt.Errorf("first line %q does not start with %s=", line, key)
	}
	go c.wait(stdout)
	if err != nil {
		c.stop()
		return "", fmt.Errorf("start %s: %w; its stderr:\n%s", name, err, c.stderr.String())
	}
	children.mu.Lock()
	children.procs = append(children.procs, c)
	children.mu.Unlock()
	return strings.TrimPrefix(line, key+"="), nil
}

// firstLine reads one line from r, giving up after startTimeout.
func firstLine(r io.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil && line == "" {
			err = fmt.Errorf("read first line: %w", err)
		} else {
			err = nil
		}
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case res := <-ch:
		return res.line, res.err
	case <-time.After(startTimeout):
		return "", fmt.Errorf("no output after %v", startTimeout)
	}
}

// wait drains the rest of the child's output and reaps it.
func (c *child) wait(stdout io.Reader) {
	_, _ = io.Copy(io.Discard, stdout)
	_ = c.cmd.Wait()
	close(c.waited)
}

// stop closes the child's standard input, which asks it to exit, and kills
// it if it has not exited after stopTimeout.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.waited:
		return
	case <-time.After(stopTimeout):
	}
	_ = c.cmd.Process.Kill()
	<-c.waited
	fmt.Fprintf(os.Stderr, "testenv: killed %s after %v; its stderr:\n%s\n", c.name, stopTimeout, c.stderr.String())
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rootModule is the module path of the repository root.
const rootModule = "github.com/atomicsession/atomicsession"

// repoRoot walks up from the working directory (a test's package
// directory) to the directory whose go.mod declares rootModule.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if isRootModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod of module %s above the working directory", rootModule)
		}
		dir = parent
	}
}

func isRootModule(gomod string) bool {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == rootModule
		}
	}
	return false
}

// buildTool builds the main package pkg of the Go module in moduleDir
// (relative to the repository root) into the user's cache directory and
// returns the binary's path. The go command's build cache makes every
// build after the first fast. The build output is in the error.
func buildTool(moduleDir, pkg, name string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	binDir := filepath.Join(cache, "atomicsession-testenv")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	bin := filepath.Join(binDir, name+exeSuffix())
	return bin, goBuild(filepath.Join(root, moduleDir), pkg, bin)
}

// goBuild runs "go build -o out pkg" in dir. It builds to a private file
// and renames it into place, so that test binaries of several packages
// building at once never run a half-written file.
func goBuild(dir, pkg, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build %s: the go command is not in PATH: %w", pkg, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*.tmp")
	if err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	tmpName := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpName)
	cmd := exec.Command(goBin, "build", "-o", tmpName, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: (cd %s && go build -o %s %s): %w\n%s", pkg, dir, out, pkg, err, output)
	}
	if err := os.Rename(tmpName, out); err != nil {
		if _, statErr := os.Stat(out); statErr == nil {
			return nil // another test binary's build is in place (and running)
		}
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

func exeSuffix() string {
	if filepath.Separator == '\\' {
		return ".exe"
	}
	return ""
}
