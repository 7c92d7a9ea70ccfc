package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// report collects a mode's results as markdown: printed as it goes, and
// written to -out at the end, ready to paste into BENCHMARKS.md.
type report struct {
	w   io.Writer // the terminal
	buf strings.Builder
}

func (r *report) printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.buf.WriteString(s)
	io.WriteString(r.w, s)
}

// table prints a markdown table.
func (r *report) table(header []string, rows [][]string) {
	r.printf("| %s |\n", strings.Join(header, " | "))
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	r.printf("|%s|\n", strings.Join(seps, "|"))
	for _, row := range rows {
		r.printf("| %s |\n", strings.Join(row, " | "))
	}
	r.printf("\n")
}

// save writes the report to path ("" = nowhere).
func (r *report) save(path string) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(r.buf.String()), 0o644)
}

// machine describes where the numbers were taken.
func machine() string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%d", &kb)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s RAM, Linux %s, %s %s/%s, load average at start %s",
		runtime.NumCPU(), cpu, mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}

// pprofTop runs `go tool pprof -top` (-cum: sorted by cumulative time) on
// a profile, when a Go toolchain is on the PATH.
func pprofTop(exe, profile string, n int, cum bool) (string, error) {
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}
	if cum {
		args = append(args, "-cum")
	}
	out, err := exec.Command("go", append(args, exe, profile)...).CombinedOutput()
	return string(out), err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fsyncReport measures what a commit waits for: 200 appends of 4 KiB,
// each followed by fdatasync (bbolt's sync on Linux), in dir.
func fsyncReport(dir string) string {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return "fdatasync not measured: " + err.Error()
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	lat := make([]int64, 0, 200)
	for range 200 {
		t := time.Now()
		if _, err := f.Write(block); err != nil {
			return "fdatasync not measured: " + err.Error()
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return "fdatasync not measured: " + err.Error()
		}
		lat = append(lat, int64(time.Since(t)))
	}
	slices.Sort(lat)
	return fmt.Sprintf("4 KiB write + fdatasync p50 %s ms, p99 %s ms (200 in a row, before the run)", ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)))
}
