# One image for Dataflow: the SDK worker container (--sdk_container_image) and the flex
# template launcher. The base image's Beam version must equal the one pyproject.toml pins
# (tests/test_deploy.py checks it).
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:latest AS template_launcher

FROM apache/beam_python3.11_sdk:2.77.0

# The flex template launcher binary, so the same image can start a template job.
COPY --from=template_launcher /opt/google/dataflow/python_template_launcher \
    /opt/google/dataflow/python_template_launcher

# libjpeg-turbo's TurboJPEG library: JPEGs are blurred as stored planes (transforms/jpeg_planes.py).
RUN apt-get update && apt-get install -y --no-install-recommends libturbojpeg0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/blur-augment
COPY pyproject.toml README.md ./
COPY blur_augment ./blur_augment
COPY pipeline ./pipeline
COPY transforms ./transforms
COPY deploy/launcher.py ./deploy/launcher.py

# Install the project (and OpenCV) into the image's Python, beside the Beam it ships with.
RUN pip install --no-cache-dir . && pip check

# The launcher runs this file with the template's parameters. Everything is installed already,
# so nothing is resolved again when the launcher or a worker starts (PIP_NO_DEPS).
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/blur-augment/deploy/launcher.py \
    PIP_NO_DEPS=True

ENTRYPOINT ["/opt/apache/beam/boot"]
