package main

import (
	"bytes"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	platform := " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, tt := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{
			name: "tagged release",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "35b8785c0ffee"},
				{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
				{Key: "vcs.modified", Value: "false"},
			}},
			ok:   true,
			want: "wagate v1.4.0 revision 35b8785c0ffee (2026-12-01T10:00:00Z) go1.26.8" + platform,
		},
		{
			name: "uncommitted changes",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261201100000-35b8785c0ffe+dirty"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "35b8785c0ffee"},
				{Key: "vcs.modified", Value: "true"},
			}},
			ok:   true,
			want: "wagate v0.0.0-20261201100000-35b8785c0ffe+dirty revision 35b8785c0ffee modified go1.26.8" + platform,
		},
		{
			name: "no version control (go run, a source tarball)",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			ok:   true,
			want: "wagate (devel) go1.26.8" + platform,
		},
		{
			name: "empty main version",
			info: &debug.BuildInfo{GoVersion: "go1.26.8"},
			ok:   true,
			want: "wagate (devel) go1.26.8" + platform,
		},
		{
			name: "no build information",
			ok:   false,
			want: "wagate (unknown version: built without module information) " + runtime.Version(),
		},
	} {
		if got := versionLine(tt.info, tt.ok); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut, noEnv); code != 0 || errOut.Len() > 0 {
			t.Errorf("wagate %s: exit %d, stderr %q", args[0], code, errOut.String())
		}
		if line := out.String(); !strings.HasPrefix(line, "wagate ") || !strings.Contains(line, runtime.Version()) || strings.Count(line, "\n") != 1 {
			t.Errorf("wagate %s printed %q; want one line naming wagate and %s", args[0], line, runtime.Version())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"version", "extra"}, &out, &errOut, noEnv); code != 2 || !strings.Contains(errOut.String(), `takes no arguments, got "extra"`) {
		t.Errorf("wagate version extra: exit %d, stderr %q; want 2 and the argument named", code, errOut.String())
	}
	if !strings.Contains(usage, "wagate version") {
		t.Error("wagate help does not list wagate version")
	}
}

// TestVersionOfBuiltBinary builds wagate as a user does and checks that
// `wagate version` prints the commit the go command stamped into it (when
// it was built in a git checkout), as `go version -m` reads it.
func TestVersionOfBuiltBinary(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("wagate version: %v", err)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	line := string(out)
	for _, l := range strings.Split(string(meta), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			if !strings.HasPrefix(line, "wagate "+f[2]+" ") {
				t.Errorf("wagate version = %q; want the module version %s", line, f[2])
			}
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			if rev := strings.TrimPrefix(f[1], "vcs.revision="); !strings.Contains(line, " revision "+rev) {
				t.Errorf("wagate version = %q; want the revision %s", line, rev)
			}
		case len(f) == 2 && f[0] == "build" && f[1] == "vcs.modified=true":
			if !strings.Contains(line, " modified ") {
				t.Errorf("wagate version = %q; the binary was built from a modified tree", line)
			}
		}
	}
	if !strings.Contains(line, runtime.Version()) {
		t.Errorf("wagate version = %q; want %s", line, runtime.Version())
	}
}
