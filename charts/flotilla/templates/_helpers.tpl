{{/* Names and labels. */}}
{{- define "flotilla.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flotilla.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: include "flotilla.selector" (list $ "api-server") */}}
{{- define "flotilla.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "flotilla.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s:%s" $root.Values.image.repository (index . 1) $root.Values.image.tag -}}
{{- end -}}

{{- define "flotilla.apiServerHost" -}}
{{- printf "%s-api-server.%s.svc" (include "flotilla.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "flotilla.etcdServers" -}}
{{- $fn := include "flotilla.fullname" . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $urls = append $urls (printf "https://%s-etcd-%d.%s-etcd.%s.svc:2379" $fn $i $fn $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/*
A certificate kept across upgrades: the Secret's current pair when it exists in the cluster
(`lookup` sees nothing under `helm template`), else a new one from the generator.
Call: include "flotilla.keep" (list $ "secret-name" $generated) | fromYaml
*/}}
{{- define "flotilla.keep" -}}
{{- $root := index . 0 -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace (index . 1) -}}
{{- if and $existing (hasKey $existing "data") (hasKey $existing.data "tls.crt") -}}
cert: {{ index $existing.data "tls.crt" | b64dec | quote }}
key: {{ index $existing.data "tls.key" | b64dec | quote }}
{{- else -}}
{{- $gen := index . 2 -}}
cert: {{ $gen.Cert | quote }}
key: {{ $gen.Key | quote }}
{{- end -}}
{{- end -}}

{{/*
Every credential of the release, generated once per render and shared by the templates that
need it (cached on .Values, which every template sees). Two CAs: etcd's (only etcd members and
the api-server hold its certificates) and the cluster's (api-server serving, components' clients,
and the node certificates the api-server signs when an agent joins).
*/}}
{{- define "flotilla.pki" -}}
{{- if not (hasKey .Values "flotillaPkiCache") -}}
{{- $fn := include "flotilla.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $days := int .Values.certificates.validityDays -}}
{{- $etcdCa := include "flotilla.keep" (list . (printf "%s-etcd-ca" $fn) (genCA "flotilla-etcd-ca" 3650)) | fromYaml -}}
{{- $etcdCaObj := buildCustomCert ($etcdCa.cert | b64enc) ($etcdCa.key | b64enc) -}}
{{- $ca := include "flotilla.keep" (list . (printf "%s-ca" $fn) (genCA "flotilla-ca" 3650)) | fromYaml -}}
{{- $caObj := buildCustomCert ($ca.cert | b64enc) ($ca.key | b64enc) -}}
{{- $etcdNames := list "localhost" (printf "%s-etcd" $fn) (printf "%s-etcd.%s.svc" $fn $ns) (printf "*.%s-etcd.%s.svc" $fn $ns) (printf "*.%s-etcd.%s.svc.cluster.local" $fn $ns) -}}
{{- $etcdMember := include "flotilla.keep" (list . (printf "%s-etcd-member" $fn) (genSignedCert "etcd" (list "127.0.0.1") $etcdNames $days $etcdCaObj)) | fromYaml -}}
{{- $etcdClient := include "flotilla.keep" (list . (printf "%s-etcd-client" $fn) (genSignedCert "flotilla-api-server" nil nil $days $etcdCaObj)) | fromYaml -}}
{{- $svc := printf "%s-api-server" $fn -}}
{{- $apiNames := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) "localhost" -}}
{{- $serving := include "flotilla.keep" (list . (printf "%s-api-server-tls" $fn) (genSignedCert (printf "%s.%s.svc" $svc $ns) (list "127.0.0.1") $apiNames $days $caObj)) | fromYaml -}}
{{- $scheduler := include "flotilla.keep" (list . (printf "%s-scheduler-client" $fn) (genSignedCert "system:flotilla-scheduler" nil nil $days $caObj)) | fromYaml -}}
{{- $cm := include "flotilla.keep" (list . (printf "%s-controller-manager-client" $fn) (genSignedCert "system:flotilla-controller-manager" nil nil $days $caObj)) | fromYaml -}}
{{- $_ := set .Values "flotillaPkiCache" (dict "etcdCa" $etcdCa "ca" $ca "etcdMember" $etcdMember "etcdClient" $etcdClient "serving" $serving "scheduler" $scheduler "controllerManager" $cm) -}}
{{- end -}}
{{- end -}}

{{/* A kubeconfig for a component: include "flotilla.kubeconfig" (list $ "scheduler" $pair) */}}
{{- define "flotilla.kubeconfig" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $pair := index . 2 -}}
{{- include "flotilla.pki" $root -}}
apiVersion: v1
kind: Config
clusters:
- name: flotilla
  cluster:
    server: {{ printf "https://%s:443" (include "flotilla.apiServerHost" $root) }}
    certificate-authority-data: {{ $root.Values.flotillaPkiCache.ca.cert | b64enc }}
users:
- name: {{ $name }}
  user:
    client-certificate-data: {{ $pair.cert | b64enc }}
    client-key-data: {{ $pair.key | b64enc }}
contexts:
- name: {{ $name }}
  context: {cluster: flotilla, user: {{ $name }}}
current-context: {{ $name }}
{{- end -}}

{{/* The restricted Pod Security profile, for every container that needs no host access. */}}
{{- define "flotilla.restricted" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
