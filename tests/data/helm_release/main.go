// Writes, as JSON on stdout, the Secret that Helm v3's own storage driver (helm.sh/helm/v3/pkg/storage/
// driver, the "secret" backend Helm uses by default) creates for a release whose manifest is read
// from stdin. hadrill's tests decode it: the encoding (base64 of gzipped JSON, inside the Secret's
// base64 data) comes from Helm, not from hadrill.
package main

import (
	"context"
	"encoding/json"
	"io"
	"os"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func main() {
	manifest, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	name, namespace := os.Args[1], os.Args[2]
	client := fake.NewSimpleClientset()
	secrets := driver.NewSecrets(client.CoreV1().Secrets(namespace))
	rel := &release.Release{
		Name:      name,
		Namespace: namespace,
		Version:   1,
		Manifest:  string(manifest),
		Info:      &release.Info{Status: release.StatusDeployed},
		Chart:     &chart.Chart{Metadata: &chart.Metadata{Name: "legacy-app", Version: "0.1.0", APIVersion: "v2"}},
	}
	// the Secret name Helm gives revision 1 (storage.makeKey): sh.helm.release.v1.NAME.v1
	if err := secrets.Create("sh.helm.release.v1."+name+".v1", rel); err != nil {
		panic(err)
	}
	list, err := client.CoreV1().Secrets(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(list.Items[0])
	os.Stdout.Write(out)
}
