package main

import (
	"strings"
	"testing"
)

func TestMaxTokensFlag(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.MaxTokens != 100 {
		t.Errorf("default --max-tokens = %d, want SPEC's 100", cfg.MaxTokens)
	}
	env := map[string]string{"WAGATE_MAX_TOKENS": "7"}
	if err := parseFlags(newServeFlagSet(&cfg), nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxTokens != 7 {
		t.Errorf("WAGATE_MAX_TOKENS=7 gave --max-tokens %d", cfg.MaxTokens)
	}
	if err := parseFlags(newServeFlagSet(&cfg), []string{"--max-tokens", "9"}, func(k string) string { return env[k] }); err != nil || cfg.MaxTokens != 9 {
		t.Errorf("--max-tokens 9 over the env: %d, %v", cfg.MaxTokens, err)
	}
	cfg.MaxTokens = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--max-tokens") {
		t.Errorf("Validate() with --max-tokens 0 = %v; want an error naming the flag", err)
	}
}
