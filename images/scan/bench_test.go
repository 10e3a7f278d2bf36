package scan

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tidegate/tidegate/images/registrytest"
)

// BenchmarkScan lists 100 repositories of 500 tags each from the
// in-process registry, serially (Concurrency 1, the baseline) and
// concurrently, once as fast as loopback allows and once with 5ms added to
// every answer to stand in for a network round trip.
func BenchmarkScan(b *testing.B) {
	const repos, tags = 100, 500
	reg := registrytest.New(b, registrytest.WithoutRequestLog())
	fill(b, reg.Host(), repos, tags)
	var targets []Target
	for i := range repos {
		targets = append(targets, Target{Repository: fmt.Sprintf("%s/bench/app-%03d", reg.Host(), i)})
	}
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		for _, c := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("latency=%v/concurrency=%d", latency, c), func(b *testing.B) {
				reg.SetLatency(latency)
				defer reg.SetLatency(0)
				s := New(Options{Concurrency: c})
				for b.Loop() {
					for _, r := range s.Tags(context.Background(), targets) {
						if r.Err != nil || len(r.Tags) != tags {
							b.Fatalf("%s: %d tags, %v", r.Target.Repository, len(r.Tags), r.Err)
						}
					}
				}
				b.ReportMetric(float64(repos)*float64(b.N)/b.Elapsed().Seconds(), "repos/s")
			})
		}
	}
}

// fill pushes one image and tags it tags times in each repository.
func fill(b *testing.B, host string, repos, tags int) {
	b.Helper()
	img := empty.Image
	jobs := make(chan name.Tag)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				if err := remote.Write(t, img); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for r := range repos {
		for t := range tags {
			ref, err := name.NewTag(fmt.Sprintf("%s/bench/app-%03d:1.%d.%d", host, r, t/100, t%100))
			if err != nil {
				b.Fatal(err)
			}
			jobs <- ref
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}
