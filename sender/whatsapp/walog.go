//go:build !nowhatsapp

package whatsapp

import (
	"fmt"

	waLog "go.mau.fi/whatsmeow/util/log"
	"go.uber.org/zap"
)

// zapWALog passes whatsmeow's log lines to zap, without its debug lines:
// they carry QR codes, message contents and keys, which never go to a log.
type zapWALog struct{ log *zap.Logger }

func waLogger(log *zap.Logger) waLog.Logger { return zapWALog{log: log} }

func (l zapWALog) Warnf(msg string, args ...any)  { l.log.Warn(fmt.Sprintf(msg, args...)) }
func (l zapWALog) Errorf(msg string, args ...any) { l.log.Error(fmt.Sprintf(msg, args...)) }
func (l zapWALog) Infof(msg string, args ...any)  { l.log.Info(fmt.Sprintf(msg, args...)) }
func (l zapWALog) Debugf(string, ...any)          {}
func (l zapWALog) Sub(module string) waLog.Logger { return zapWALog{log: l.log.Named(module)} }
