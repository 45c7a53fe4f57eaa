// The upstream Pod Security evaluator (k8s.io/pod-security-admission) timed on the objects hadrill's
// bench/pss_reference.py writes, with the verdict of every pod template (its failing check IDs).
//
//	pss-reference objects FILE.json LEVEL REPEAT    [{"metadata": {...}, "spec": {...}}, ...] in memory
//	pss-reference manifests FILE.yaml LEVEL REPEAT  multi-document YAML, end to end (read, decode, extract)
//
// Prints one JSON object: the best wall and CPU seconds of REPEAT runs of EvaluatePod over every
// template (objects: decoding excluded; manifests: reading and decoding included, as kubectl and the
// admission plugin do it), and per template the sorted IDs of the checks that forbid it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/pod-security-admission/admission"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type template struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     corev1.PodSpec    `json:"spec"`
}

type namedCheck struct {
	id policy.CheckID
	fn policy.CheckPodFn
}

// checksAt lists the checks EvaluatePod runs for a level at a version, with their IDs (the evaluator
// does not say which check forbade a pod): the newest version of each check not newer than v, and at
// restricted the baseline checks no restricted check overrides.
func checksAt(level api.Level, v api.Version) []namedCheck {
	type picked struct {
		id    policy.CheckID
		level api.Level
		vc    policy.VersionedCheck
	}
	var all []picked
	for _, c := range policy.DefaultChecks() {
		var vc *policy.VersionedCheck
		for i := range c.Versions {
			if !v.Older(c.Versions[i].MinimumVersion) {
				vc = &c.Versions[i]
			}
		}
		if vc != nil {
			all = append(all, picked{c.ID, c.Level, *vc})
		}
	}
	overridden := map[policy.CheckID]bool{}
	if level == api.LevelRestricted {
		for _, p := range all {
			if p.level == api.LevelRestricted {
				for _, o := range p.vc.OverrideCheckIDs {
					overridden[o] = true
				}
			}
		}
	}
	var out []namedCheck
	for _, p := range all {
		if (p.level == api.LevelBaseline && !overridden[p.id]) || (level == api.LevelRestricted && p.level == api.LevelRestricted) {
			out = append(out, namedCheck{p.id, p.vc.CheckPod})
		}
	}
	return out
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

type pod struct {
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
}

// decodeManifests reads every document and extracts its pod template as the admission plugin does.
func decodeManifests(data []byte) ([]pod, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	decoder := scheme.Codecs.UniversalDeserializer()
	extractor := admission.DefaultPodSpecExtractor{}
	var pods []pod
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return pods, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, err
		}
		meta, spec, err := extractor.ExtractPodSpec(obj)
		if err != nil {
			return nil, err
		}
		if spec != nil {
			pods = append(pods, pod{meta, spec})
		}
	}
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: pss-reference objects|manifests FILE LEVEL REPEAT")
		os.Exit(2)
	}
	mode, file, level := os.Args[1], os.Args[2], api.Level(os.Args[3])
	repeat, err := strconv.Atoi(os.Args[4])
	if err != nil || repeat < 1 {
		fmt.Fprintln(os.Stderr, "REPEAT: a positive integer")
		os.Exit(2)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lv := api.LevelVersion{Level: level, Version: api.MajorMinorVersion(1, 34)}

	var pods []pod
	if mode == "objects" {
		var templates []template
		if err := json.Unmarshal(data, &templates); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for i := range templates {
			pods = append(pods, pod{&templates[i].Metadata, &templates[i].Spec})
		}
	}
	bestWall, bestCPU, forbidden := 1e9, 1e9, 0
	for r := 0; r < repeat; r++ {
		runtime.GC()
		t0, c0 := time.Now(), cpuSeconds()
		run := pods
		if mode == "manifests" {
			if run, err = decodeManifests(data); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		forbidden = 0
		for _, p := range run {
			if !policy.AggregateCheckResults(evaluator.EvaluatePod(lv, p.meta, p.spec)).Allowed {
				forbidden++
			}
		}
		wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-c0
		if wall < bestWall {
			bestWall = wall
		}
		if cpu < bestCPU {
			bestCPU = cpu
		}
		pods = run
	}
	// Verdicts, untimed: which checks forbid each template; they must agree with EvaluatePod.
	checks := checksAt(level, lv.Version)
	verdicts := make([][]string, len(pods))
	agree := 0
	for i, p := range pods {
		ids := []string{}
		for _, c := range checks {
			if !c.fn(p.meta, p.spec).Allowed {
				ids = append(ids, string(c.id))
			}
		}
		sort.Strings(ids)
		verdicts[i] = ids
		if len(ids) > 0 {
			agree++
		}
	}
	if agree != forbidden {
		fmt.Fprintf(os.Stderr, "per-check verdicts (%d forbidden) disagree with EvaluatePod (%d)\n", agree, forbidden)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{
		"wall": bestWall, "cpu": bestCPU, "pods": len(pods), "forbidden": forbidden, "verdicts": verdicts,
	})
	fmt.Println(string(out))
}
