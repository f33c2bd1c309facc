"""Task forms: JSON Schema files in forms/ turned into rendered fields and server-side validation."""
from app.taskforms.errors import InvalidForm, UnknownForm
from app.taskforms.fields import Field, Option
from app.taskforms.form import TaskForm
from app.taskforms.formats import FORMAT_CHECKER
from app.taskforms.registry import FormRegistry, get_registry, is_form_key

__all__ = [
    "FORMAT_CHECKER",
    "Field",
    "FormRegistry",
    "InvalidForm",
    "Option",
    "TaskForm",
    "UnknownForm",
    "get_registry",
    "is_form_key",
]
