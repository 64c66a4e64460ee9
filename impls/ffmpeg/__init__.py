"""Everything that talks to ffmpeg and ffprobe, by responsibility: the binaries and what they can
encode (:mod:`.tools`), arguments (:mod:`.command`), processes (:mod:`.process`), what renderers
ask of ffmpeg (:mod:`.operations`), facts read from files (:mod:`.probe`), output files
(:mod:`.files`)."""
