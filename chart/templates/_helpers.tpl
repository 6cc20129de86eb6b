{{/* Name of the chart, overridable. */}}
{{- define "flinkops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects. */}}
{{- define "flinkops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "flinkops.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "flinkops.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "flinkops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "flinkops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the operator pods. */}}
{{- define "flinkops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flinkops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flinkops.serviceAccountName" -}}
{{- if .Values.operatorServiceAccount.create -}}
{{- default (include "flinkops.fullname" .) .Values.operatorServiceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operatorServiceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flinkops.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the Flink jobs run in: the watched ones, else the release namespace. */}}
{{- define "flinkops.jobNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- join "," .Values.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "flinkops.webhookServiceName" -}}
{{- printf "%s-webhook" (include "flinkops.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flinkops.webhookSecretName" -}}
{{- printf "%s-webhook-cert" (include "flinkops.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The operator's rules on the objects of Flink clusters and on the Flink resources (least privilege). */}}
{{- define "flinkops.operatorRules" -}}
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments, flinksessionjobs]
  # create: a server-side apply that creates the object is authorized as create.
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments/status, flinksessionjobs/status]
  verbs: [get, patch, update]
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments/finalizers, flinksessionjobs/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
