from django.db import migrations, models


def requested_from_flag(apps, schema_editor):
    # Versions that were to be activated when ready keep that wish, now with
    # the guard against a worse model; activate=false stays "never".
    ModelVersion = apps.get_model("modeltrainer", "ModelVersion")
    ModelVersion.objects.filter(activate_when_ready=False).update(activation_requested="never")


def flag_from_requested(apps, schema_editor):
    ModelVersion = apps.get_model("modeltrainer", "ModelVersion")
    ModelVersion.objects.filter(activation_requested="never").update(activate_when_ready=False)


class Migration(migrations.Migration):
    dependencies = [
        ("modeltrainer", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="activation_requested",
            field=models.CharField(
                choices=[
                    ("if_better", "If not worse than the active version"),
                    ("always", "Always (forced)"),
                    ("never", "Never (activate by hand)"),
                ],
                default="if_better",
                max_length=16,
                verbose_name="activation requested",
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="activation",
            field=models.JSONField(blank=True, default=dict, editable=False, verbose_name="activation decision"),
        ),
        migrations.RunPython(requested_from_flag, flag_from_requested),
        migrations.RemoveField(model_name="modelversion", name="activate_when_ready"),
    ]
