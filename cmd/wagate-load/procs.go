package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wagate/wagate/gateway/api"
	"github.com/wagate/wagate/gateway/client"
)

// errHelp is returned for -h: the flag package printed the flags already.
var errHelp = errors.New("help requested")

// usageError is a wrong command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func isUsage(err error) bool {
	var u usageError
	return errors.Is(err, errHelp) || errors.As(err, &u)
}

// parseFlags parses a mode's flags; no positional arguments are taken.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q; every setting is a flag (-h lists them)", fs.Arg(0))}
	}
	return nil
}

// process is a server the tool started: wagate, the baseline, or the
// profiled gateway. Its stderr (and stdout) go to a log file in the work
// folder; the first line that names the listening address gives addr.
type process struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	logPath string
	started time.Time // just before exec
	listen  time.Time // when the listening line was read
	done    chan struct{}
	waitErr error
}

// addrMatcher finds the listening address in one output line.
type addrMatcher func(line []byte) (string, bool)

// wagateListening reads wagate's JSON log line {"msg":"wagate listening","addr":…}.
func wagateListening(line []byte) (string, bool) {
	if !bytes.Contains(line, []byte(`"wagate listening"`)) {
		return "", false
	}
	var v struct {
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &v) != nil || v.Addr == "" {
		return "", false
	}
	return v.Addr, true
}

// plainListening reads the tool's own server modes' line "listening ADDR".
func plainListening(line []byte) (string, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "listening ")
	return s, ok && s != ""
}

// startProcess runs bin with args and waits (up to timeout) for its
// listening line. The process writes its stderr straight into the log file
// (no pipe through this tool, which would take CPU from the measurement);
// the tool reads the file for the listening line. fixedAddr, when not "",
// is the address to use when the process logs none (wagate at --log-level
// warn). env is added to this tool's environment for the child.
func startProcess(name, bin string, args, env []string, logPath string, match addrMatcher, fixedAddr string, timeout time.Duration) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &process{name: name, logPath: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	if len(env) > 0 {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = nil // wagate prints the operator token there once; it is in the data folder anyway
	p.cmd.Stderr = logf
	p.started = time.Now()
	err = p.cmd.Start()
	logf.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	if fixedAddr != "" {
		p.addr = fixedAddr
		return p, nil
	}
	f, err := os.Open(logPath)
	if err != nil {
		p.kill()
		return nil, err
	}
	defer f.Close()
	var pending []byte
	buf := make([]byte, 64<<10)
	deadline := time.After(timeout)
	for {
		n, _ := f.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			if a, ok := match(pending[:i]); ok {
				p.addr, p.listen = a, time.Now()
				return p, nil
			}
			pending = pending[i+1:]
		}
		if n > 0 {
			continue
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before listening (%v); see %s", name, p.waitErr, logPath)
		case <-deadline:
			p.kill()
			return nil, fmt.Errorf("%s did not listen within %s; see %s", name, timeout, logPath)
		case <-time.After(time.Millisecond):
		}
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit (SIGKILL after timeout).
func (p *process) stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed it", p.name, timeout)
	}
}

// kill is kill -9, and waits for the process to be gone.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// freeAddr picks a free loopback port, for a wagate that does not log its
// address (a tiny window for another process to take it is acceptable on a
// benchmark machine).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startWagate runs `wagate serve` on data with extra flags.
func startWagate(env []string, bin, data, logPath, logLevel string, flags ...string) (*process, error) {
	addr := "127.0.0.1:0"
	fixed := ""
	if logLevel != "debug" && logLevel != "info" {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addr, fixed = a, a
	}
	args := append([]string{"serve", "--addr", addr, "--data", data, "--log-level", logLevel}, flags...)
	return startProcess("wagate", bin, args, env, logPath, wagateListening, fixed, 60*time.Second)
}

// findWagate resolves the -wagate flag: the binary must exist, so a user
// who forgot `make build` is told so instead of measuring nothing.
func findWagate(bin string) (string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return "", fmt.Errorf("no wagate binary at %s: run `make build` first, or pass -wagate PATH", bin)
	}
	return abs, nil
}

// selfExe is this tool's binary, to start its server modes.
func selfExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find the wagate-load binary to start its server modes: %w", err)
	}
	return exe, nil
}

// procStat is what /proc says about a process at one instant.
type procStat struct {
	At      time.Time
	CPU     time.Duration // user + system time so far
	RSS     int64         // bytes
	HWM     int64         // peak RSS so far, bytes
	RssAnon int64         // heap, stacks: what grows with accounts
	RssFile int64         // mapped files: bbolt's pages that were touched
	Threads int
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux build that Go supports (it is not the kernel's HZ).
const clockTicks = 100

// readProcStat reads /proc/<pid>/stat and /proc/<pid>/status.
func readProcStat(pid int) (procStat, error) {
	st := procStat{At: time.Now()}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return st, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.HWM = n << 10
		case "RssAnon":
			st.RssAnon = n << 10
		case "RssFile":
			st.RssFile = n << 10
		case "Threads":
			st.Threads = int(n)
		}
	}
	return st, nil
}

// selfCPU is this process's CPU time, to report what the load tool took.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// admin talks to one wagate: its admin API through the typed client
// (gateway/client), one client per token over one shared connection pool,
// and /readyz and /metrics, which are no part of the admin API.
type admin struct {
	base   string // http://addr
	client *http.Client
}

func newAdmin(addr string, conns int) *admin {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &admin{base: "http://" + addr, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// as returns the admin API client that authenticates with token.
func (a *admin) as(token string) *client.Client {
	return client.New(a.base, token, client.WithHTTPClient(a.client))
}

// waitReady polls /readyz until it answers 200 and returns when it did.
func (a *admin) waitReady(ctx context.Context, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/readyz", nil)
		resp, err := a.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("/readyz did not answer 200 within %s", timeout)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// benchWorkspace is a workspace made through the admin API.
type benchWorkspace struct {
	ID      string
	Owner   string // owner token
	Inbound string // the inbound token (the path segment)
}

func (a *admin) createWorkspace(ctx context.Context, operator, name string, credits int64) (*benchWorkspace, error) {
	ws, err := a.as(operator).CreateWorkspace(ctx, name, credits)
	if err != nil {
		return nil, fmt.Errorf("create workspace %s: %w", name, err)
	}
	_, tok, ok := strings.Cut(ws.Webhook.URL, "/inbound/")
	if !ok || ws.ID == "" || ws.OwnerToken == "" {
		return nil, fmt.Errorf("create workspace: unexpected answer (id %q, webhook url without /inbound/)", ws.ID)
	}
	return &benchWorkspace{ID: ws.ID, Owner: ws.OwnerToken, Inbound: tok}, nil
}

func (a *admin) createAccount(ctx context.Context, ws *benchWorkspace, phone string) error {
	_, err := a.as(ws.Owner).CreateAccount(ctx, ws.ID, api.CreateAccount{Phone: phone, Transport: "dryrun"})
	if err != nil {
		return fmt.Errorf("create account %s in %s: %w", phone, ws.ID, err)
	}
	return nil
}

// credits returns the workspace's balance.
func (a *admin) credits(ctx context.Context, ws *benchWorkspace) (int64, error) {
	got, err := a.as(ws.Owner).Workspace(ctx, ws.ID)
	if err != nil {
		return 0, fmt.Errorf("read workspace %s: %w", ws.ID, err)
	}
	return got.Credits, nil
}

// metrics returns /metrics as text.
func (a *admin) metrics(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// readOperatorToken reads {data}/operator.token, written at first start.
func readOperatorToken(data string) (string, error) {
	b, err := os.ReadFile(filepath.Join(data, "operator.token"))
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// workDir makes the folder of a run's data and logs: dir when given, else
// a new temporary folder.
func workDir(dir, mode string) (string, error) {
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o700)
	}
	return os.MkdirTemp("", "wagate-load-"+mode+"-")
}
