{{/* The name of every object: the release's name, with the chart's appended
unless the release's name already holds it. */}}
{{- define "prosper.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the pod; they never change, since a Deployment's
selector cannot. */}}
{{- define "prosper.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "prosper.labels" -}}
{{ include "prosper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The router replicas' selector: a name of their own, so that the control
plane's selector (which cannot change) does not take them in. */}}
{{- define "prosper.routerSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-router
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: router
{{- end -}}

{{/* The image by digest when one is given (what "prosper install
--build-image" pushed), else by tag. */}}
{{- define "prosper.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The data directory: a directory of the node, at the same path in the
pod, where the apps' pods mount their DATA_DIR from too. */}}
{{- define "prosper.dataDir" -}}
{{- .Values.persistence.hostPath | trimSuffix "/" -}}
{{- end -}}

{{/* Whether router replicas run apart from the control plane. */}}
{{- define "prosper.routerReplicas" -}}
{{- if gt (int .Values.router.replicas) 0 -}}true{{- end -}}
{{- end -}}
