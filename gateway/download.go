package gateway

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"

	"github.com/wagate/wagate"
)

// Download is a file of a workspace's attempt log, ready to send with
// Content-Disposition: attachment.
type Download struct {
	Name        string // e.g. wagate-attempts-ws_…-20250314T150926Z.csv
	ContentType string
	Body        []byte
}

// DownloadAttempts renders the last wagate.AttemptLimit attempts of a
// workspace, oldest first, in format "jsonl" (one attempt object a line;
// also for "") or "csv" (a header row, then one row per attempt). The web
// console offers the same file as the admin API, so both call this; the
// caller has checked that its token may read the workspace.
func (s *Server) DownloadAttempts(ctx context.Context, workspaceID, format string) (*Download, error) {
	switch format {
	case "":
		format = "jsonl"
	case "jsonl", "csv":
	default:
		return nil, wagate.Errorf(wagate.EINVALID, "format %q is not supported; use format=jsonl or format=csv", cut(format, 20))
	}
	list, err := s.svc.Attempts.ListAttempts(ctx, workspaceID, wagate.AttemptLimit)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	contentType := "application/x-ndjson"
	if format == "csv" {
		contentType = "text/csv; charset=utf-8"
		w := csv.NewWriter(&buf)
		_ = w.Write(attemptFields) // writes to a bytes.Buffer cannot fail
		for i := len(list) - 1; i >= 0; i-- {
			_ = w.Write(csvRow(renderAttempt(list[i])))
		}
		w.Flush()
	} else {
		enc := json.NewEncoder(&buf)
		for i := len(list) - 1; i >= 0; i-- {
			if err := enc.Encode(renderAttempt(list[i])); err != nil {
				return nil, err
			}
		}
	}
	name := fmt.Sprintf("wagate-attempts-%s-%s.%s", workspaceID, s.now().UTC().Format("20060102T150405Z"), format)
	return &Download{Name: name, ContentType: contentType, Body: buf.Bytes()}, nil
}
