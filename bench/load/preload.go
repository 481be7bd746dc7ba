package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Preload writes keys read keys (AppendReadKey) with values of valueSize
// bytes, through POST /key in batches, so that read runs find what they
// read. Both nodes and the distributor serve POST /key; the distributor
// splits each batch by shard. Batches are sequential and retried with
// backoff while the server answers 503 or cannot be reached (a cluster
// that has just started may still be electing), until ctx ends.
func Preload(ctx context.Context, client *http.Client, baseURL, prefix string, keys, valueSize int) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	value := Value(valueSize)
	// ~256 KiB bodies: well under a node's 1 MiB limit, large enough that
	// 1M keys take a few thousand round trips rather than a million.
	batch := max(1, min(2000, (256<<10)/(len(prefix)+valueSize+24)))
	url := strings.TrimSuffix(baseURL, "/") + "/key"
	var key []byte
	for from := 0; from < keys; from += batch {
		body := []byte{'{'}
		for i := from; i < min(from+batch, keys); i++ {
			if i > from {
				body = append(body, ',')
			}
			key = AppendReadKey(key[:0], prefix, i)
			body = append(body, '"')
			body = append(body, key...)
			body = append(body, `":"`...)
			body = append(body, value...)
			body = append(body, '"')
		}
		body = append(body, '}')
		if err := postRetry(ctx, client, url, body); err != nil {
			return fmt.Errorf("preload keys %d-%d: %w", from, min(from+batch, keys)-1, err)
		}
	}
	return nil
}

// finalError is an answer that retrying will not change.
type finalError struct{ error }

func postRetry(ctx context.Context, client *http.Client, url string, body []byte) error {
	backoff := 50 * time.Millisecond
	for {
		err := post(ctx, client, url, body)
		var fe finalError
		if err == nil || errors.As(err, &fe) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return finalError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 500:
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return finalError{fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))}
}
