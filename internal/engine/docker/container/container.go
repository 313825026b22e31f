// Package container names, as aliases, what the framework uses of the Docker SDK's
// container package: containers: their configuration, options of the calls about them, their summaries (see package docker).
package container

import upstream "github.com/docker/docker/api/types/container"

// The types of the SDK's container package that the framework uses.
type (
	Config                 = upstream.Config
	CopyToContainerOptions = upstream.CopyToContainerOptions
	ExecAttachOptions      = upstream.ExecAttachOptions
	ExecOptions            = upstream.ExecOptions
	HealthConfig           = upstream.HealthConfig
	HostConfig             = upstream.HostConfig
	ListOptions            = upstream.ListOptions
	LogsOptions            = upstream.LogsOptions
	NetworkMode            = upstream.NetworkMode
	RemoveOptions          = upstream.RemoveOptions
	RestartPolicy          = upstream.RestartPolicy
	RestartPolicyMode      = upstream.RestartPolicyMode
	StartOptions           = upstream.StartOptions
	StopOptions            = upstream.StopOptions
	Summary                = upstream.Summary
	Ulimit                 = upstream.Ulimit
)

// The constants of the SDK's container package that the framework uses.
const (
	RestartPolicyAlways     = upstream.RestartPolicyAlways
	RestartPolicyDisabled   = upstream.RestartPolicyDisabled
	RestartPolicyOnFailure  = upstream.RestartPolicyOnFailure
	WaitConditionNextExit   = upstream.WaitConditionNextExit
	WaitConditionNotRunning = upstream.WaitConditionNotRunning
	WaitConditionRemoved    = upstream.WaitConditionRemoved
)
