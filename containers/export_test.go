package containers

// BuildsRun reports how many builds this process sent to the engine.
func BuildsRun() int64 { return buildsRun.Load() }
