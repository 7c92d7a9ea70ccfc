package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionLine says which wagate this is, for bug reports: the module
// version (a tag, or a pseudo-version from the commit, or "(devel)"), the
// commit and whether the tree had uncommitted changes (the go command
// records both when it builds in a git checkout), and the Go version, since
// the standard library is half of what runs. ok false means the binary has
// no build information (built without module support).
func versionLine(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "wagate (unknown version: built without module information) " + runtime.Version()
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var revision, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	var b strings.Builder
	b.WriteString("wagate " + version)
	if revision != "" {
		b.WriteString(" revision " + revision)
		if at != "" {
			b.WriteString(" (" + at + ")")
		}
		if modified == "true" {
			b.WriteString(" modified")
		}
	}
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, " %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// runVersion prints versionLine for this binary.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "wagate version: takes no arguments, got %q\n", args[0])
		return 2
	}
	info, ok := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(info, ok))
	return 0
}
