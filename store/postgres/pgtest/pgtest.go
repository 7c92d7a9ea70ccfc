// Package pgtest starts a throwaway PostgreSQL cluster for a test binary,
// so the PostgreSQL backend's tests run against a real server on every
// `make test` (which installs Debian's postgresql when it is missing).
//
// A package that needs PostgreSQL calls Main from its TestMain, and each
// test takes a fresh, empty database of the one cluster with Database:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.Database(t) // postgres://postgres@127.0.0.1:PORT/t_3?sslmode=disable
//		...
//	}
//
// Tests that each need the same schema pass Main a Template, prepared once,
// and take a copy of it per test with Clone: one cluster per test binary,
// one database per test, no migration per test.
//
// The cluster is made by initdb --no-sync with trust authentication in a
// temp folder, and its server listens on 127.0.0.1 on a free port, with its
// unix socket in that folder, so it never meets another cluster of the
// machine. It runs with fsync off: it is for tests, and nothing in it must
// outlive the test binary. initdb and postgres refuse to run as root, so a
// root test binary runs them as the postgres user (the one Debian's package
// creates), as `runuser -u postgres --` would. The server is a child of the
// test binary that the kernel kills when the binary dies, so a killed
// `go test` leaves no server behind, and the next Start removes the folder
// it left.
//
// When PostgreSQL cannot start, Main fails the test binary with the reason
// and the fix: tests that need it never skip.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartTimeout bounds how long Start waits for the server to accept
// connections; here it takes well under 2 s.
const StartTimeout = 30 * time.Second

// Options configures Start. The zero value finds everything itself.
type Options struct {
	// Bin is the folder of initdb and postgres. "" means the environment's
	// WAGATE_PG_BIN, else the newest /usr/lib/postgresql/*/bin (Debian's
	// layout, not on PATH), else the folder of initdb on PATH.
	Bin string
	// Settings are extra server settings, name -> value, e.g.
	// {"shared_buffers": "256MB"}.
	Settings map[string]string
}

// Cluster is a running throwaway cluster.
type Cluster struct {
	dir  string // the temp folder: data/, the socket, server.log
	port int
	cmd  *exec.Cmd
	log  *lockedBuffer
	exit chan struct{} // closed when the server process has exited
	dbs  atomic.Int64  // databases made, for their names
	lock *os.File      // held while the cluster lives (see sweep)
}

// dirPrefix names the clusters' folders in the temp folder.
const dirPrefix = "wagate-pg-"

// lockDir takes an exclusive flock on dir/.lock, held until Stop closes it
// or the process dies, when the kernel releases it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgtest: lock %s: %w", dir, err)
	}
	return f, nil
}

// sweep removes the folders of clusters whose test binary died without
// Stop (a killed go test: the server died with it, its folder stayed):
// those whose lock nobody holds. Folders younger than a minute are left
// alone, since their cluster may not have taken its lock yet.
func sweep(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || time.Since(st.ModTime()) < time.Minute {
			continue
		}
		f, err := os.Open(filepath.Join(dir, ".lock"))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(dir)
		}
		f.Close()
	}
}

// Start makes and starts a cluster. The caller stops it with Stop.
func Start(opts Options) (*Cluster, error) {
	bin, err := findBin(opts.Bin)
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	sweep(shortTemp())
	dir, err := os.MkdirTemp(shortTemp(), dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir}
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, err
	}
	if c.lock, err = lockDir(dir); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("pgtest: give %s to the postgres user: %w", dir, err))
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}
	// A port found free can be taken before the server binds it: try
	// another then.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		err = c.serve(bin, cred, port, opts.Settings)
		if err == nil {
			return c, nil
		}
		if try == 4 || !strings.Contains(c.log.String(), "could not bind") {
			return fail(err)
		}
	}
}

// serve starts the server on port and waits until it accepts connections:
// it reads the server's log as it is written and returns at the line that
// says so, or when the server exits.
func (c *Cluster) serve(bin string, cred *syscall.Credential, port int, settings map[string]string) error {
	args := []string{"-D", filepath.Join(c.dir, "data"), "-p", strconv.Itoa(port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		// Tests only: durability is not what they check here, and
		// fsync off makes every commit cheap on a shared machine.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "logging_collector=off"}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	// The kernel kills the server when the test binary dies, however it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	cmd.Stdout = io.Discard
	c.cmd, c.port, c.log, c.exit = cmd, port, &lockedBuffer{}, make(chan struct{})
	// The parent-death signal fires when the THREAD that started the
	// server ends, not the process. Go ends a thread only when a goroutine
	// locked to it returns, so start the server on a goroutine locked to
	// its thread that lives as long as the server: no other goroutine can
	// lock that thread and end it under the server.
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends after the server
		err := cmd.Start()
		started <- err
		if err == nil {
			<-c.exit
		}
	}()
	if err := <-started; err != nil {
		close(c.exit)
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			c.log.WriteLine(sc.Text())
			if strings.Contains(sc.Text(), "database system is ready to accept connections") {
				once.Do(func() { close(ready) })
			}
		}
		_ = cmd.Wait()
		close(c.exit)
	}()
	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-c.exit:
		return fmt.Errorf("pgtest: postgres exited at start:\n%s", c.log.String())
	case <-timer.C:
		c.kill()
		return fmt.Errorf("pgtest: postgres did not accept connections within %s:\n%s", StartTimeout, c.log.String())
	}
}

// kill stops the server at once (SIGQUIT: immediate shutdown, no
// checkpoint, which a throwaway cluster does not need) and waits for it.
func (c *Cluster) kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.exit:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exit:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exit
	}
}

// Stop stops the server and removes the cluster's folder.
func (c *Cluster) Stop() {
	c.kill()
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
	if c.lock != nil {
		c.lock.Close()
	}
}

// PID is the server's process id (the postmaster, whose children serve the
// connections), for a benchmark that counts the server's CPU.
func (c *Cluster) PID() int { return c.cmd.Process.Pid }

// URL returns the address of database name on the cluster, for pgx.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// SocketURL returns the address of database name through the server's
// unix socket (in the cluster's folder) instead of TCP, for pgx.
func (c *Cluster) SocketURL(name string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", name, c.dir, c.port)
}

// CreateDatabase makes a new, empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	return c.create(ctx, fmt.Sprintf("t_%d", c.dbs.Add(1)), "")
}

// CloneDatabase makes a new database as a copy of the database template
// and returns its URL. Nobody may be connected to template meanwhile.
func (c *Cluster) CloneDatabase(ctx context.Context, template string) (string, error) {
	return c.create(ctx, fmt.Sprintf("t_%d", c.dbs.Add(1)), template)
}

func (c *Cluster) create(ctx context.Context, name, template string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// Template is a database Main prepares once per test binary, for Clone: a
// schema made once and copied per test costs a file copy, not a migration
// per test.
type Template struct {
	Name string
	// Prepare fills the new, empty database at url; it must close every
	// connection to it before it returns, or no clone can be made.
	Prepare func(ctx context.Context, url string) error
}

// shared is the cluster Main started for the test binary.
var shared *Cluster

// Main is a TestMain: it starts a cluster, runs the tests and stops it. A
// cluster that cannot start fails the test binary, with the reason and the
// fix, before any test runs.
// The templates are prepared before any test runs.
func Main(m *testing.M, templates ...Template) {
	os.Exit(run(m, templates))
}

func run(m *testing.M, templates []Template) int {
	flag.Parse() // for testing.Verbose; m.Run would parse them anyway
	start := time.Now()
	c, err := Start(Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the tests of this package need PostgreSQL, which did not start: %v\n", err)
		return 1
	}
	defer c.Stop()
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "pgtest: PostgreSQL on 127.0.0.1:%d, started in %s\n", c.port, time.Since(start).Round(time.Millisecond))
	}
	for _, tpl := range templates {
		ctx := context.Background()
		url, err := c.create(ctx, tpl.Name, "")
		if err == nil {
			err = tpl.Prepare(ctx, url)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: pgtest: prepare the template database %s: %v\n", tpl.Name, err)
			return 1
		}
	}
	shared = c
	return m.Run()
}

// Clone returns the URL of a new database copied from the template Main
// prepared under that name. It fails t when there is none.
func Clone(t testing.TB, template string) string {
	t.Helper()
	if shared == nil {
		t.Fatal("pgtest: no cluster: call pgtest.Main(m) from the package's TestMain")
	}
	url, err := shared.CloneDatabase(context.Background(), template)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// Database returns the URL of a new, empty database on the cluster Main
// started. It fails t when there is none.
func Database(t testing.TB) string {
	t.Helper()
	if shared == nil {
		t.Fatal("pgtest: no cluster: call pgtest.Main(m) from the package's TestMain")
	}
	url, err := shared.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// findBin returns the folder of initdb and postgres.
func findBin(bin string) (string, error) {
	if bin == "" {
		bin = os.Getenv("WAGATE_PG_BIN")
	}
	if bin == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
		for i := len(dirs) - 1; i >= 0 && bin == ""; i-- {
			if isFile(filepath.Join(dirs[i], "initdb")) {
				bin = dirs[i]
			}
		}
	}
	if bin == "" {
		if p, err := exec.LookPath("initdb"); err == nil {
			bin = filepath.Dir(p)
		}
	}
	if bin == "" {
		return "", errors.New("pgtest: PostgreSQL's server programs (initdb, postgres) are not installed: run `make test-deps` (apt-get install -y postgresql), or set WAGATE_PG_BIN to the folder that holds them")
	}
	for _, prog := range []string{"initdb", "postgres"} {
		if !isFile(filepath.Join(bin, prog)) {
			return "", fmt.Errorf("pgtest: %s has no %s: set WAGATE_PG_BIN to the folder of PostgreSQL's server programs", bin, prog)
		}
	}
	return bin, nil
}

// pgVersion reads the major version from /usr/lib/postgresql/N/bin.
func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// serverUser is who runs initdb and postgres: nil (this process's user)
// unless this process is root, which both refuse; then the postgres user.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, the server must run as the postgres user, which does not exist (Debian's postgresql package creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: the postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// shortTemp is the folder for the cluster: a unix socket path is limited
// to about 100 bytes, which a deep TMPDIR can pass.
func shortTemp() string {
	if d := os.TempDir(); len(d) < 60 {
		return d
	}
	return "/tmp"
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer keeps the server's log for error messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.WriteString(s)
		l.b.WriteByte('\n')
	}
}

func (l *lockedBuffer) String() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
