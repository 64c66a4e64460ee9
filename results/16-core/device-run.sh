#!/usr/bin/env bash
# Scaling run on the 16-core device machine: slideshow full HD through the plugin.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.whl/src PYTHONUNBUFFERED=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
mkdir -p /tmp/ff && tar -C /tmp/ff -xJf .whl/ffbin.tar.xz || exit 1
export RENDERBENCH_FFMPEG=/tmp/ff/ffmpeg RENDERBENCH_FFPROBE=/tmp/ff/ffprobe FFMPEG_BINARY=/tmp/ff/ffmpeg
{ nproc; lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Socket|NUMA node\(s\)'; free -g; python3 -V; python3 -c "import numpy, PIL, moviepy; print('numpy', numpy.__version__, 'pillow', PIL.__version__)"; /tmp/ff/ffmpeg -version | head -1; } 2>&1 | tee $OUT/machine.txt
cd .whl/src || exit 1
R=$OUT/r; mkdir -p $R
timeout -s INT -k 25 ${LIMIT:-540} python3 -m pytest harness/suite.py -p pytest_benchmark.plugin -p harness.plugin -p no:cacheprovider -ra \
  --renderbench-preset=full --renderbench-workloads=slideshow --renderbench-workers=${WORKERS:-1,2,4,8,16} \
  --renderbench-renderers=${RENDERERS:-baseline,disk,pipe,chunk} --renderbench-rounds=${ROUNDS:-1} \
  --renderbench-results-dir=$R --benchmark-json=$R/benchmark.json ${EXTRA:-} 2>&1 | tee $OUT/log
echo "exit $?"
